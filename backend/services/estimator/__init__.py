"""The local quote estimator: a casual job description in, a priced draft quote out.

Pure and deterministic: no I/O, ``Decimal`` only, the same input always gives the same estimate.

Pipeline
--------
1. ``normalize``  — lower-case, NFKC, number words ("a couple" -> 2), typos, one spelling per
   unit (``sqft``, ``sqm``, ``lf``, ``cuyd``, ``squares``), room sizes ``12x14``, multipliers ``x2``.
2. ``matching``   — cut into sentences and clauses; each job kind of the catalogue (``kinds_*.py``)
   is searched in priority order and claims its words, so "spray paint kitchen cabinets" is a
   cabinet job and not also a wall-painting job. Customer-supplied parts and hedges ("maybe
   need ...") are noted on the match.
3. ``quantities`` / ``pricing.size_of`` — counts next to the job's noun ("4 kitchen outlets",
   "lines x2"), explicit sizes (metric converted, said in the line description), room dimensions,
   bedrooms, typical room sizes, else the kind's default (marked as assumed).
4. ``pricing``    — lines from the kind's line specs at the contractor's rates.
5. ``engine``     — minimum charges, days and crew from hours, questions and confidence.

Pricing rules
-------------
* Rates are **sell prices**. A line priced from ``category.unit_prices[item]`` carries exactly
  that value as ``unit_price``; an hourly labour line (unit ``hour``) carries exactly
  ``category.labor_rate``. ``markup_percent`` is the contractor's informational materials margin
  and is never applied on top, so a price edit on a line maps one-to-one back to the stored rate.
* The contractor's categories win. A job whose category the contractor does not have is priced
  with the template category of the right trade (its key and prices); an item missing from a
  contractor's category falls back to that category's template price. A category whose
  ``labor_rate`` is 0 uses ``default_labor_rate`` (the contractor's default from settings).
* Minimum charge: when the lines of a category sum below its ``min_charge``, one
  "Minimum service charge" line (unit ``job``, quantity 1) tops the category up to the minimum.
* Schedule: 8-hour days; crew 1 up to 16 h, 2 up to 64 h, 3 up to 160 h, then more; some kinds
  set a minimum crew (roof tear-off) or curing days (tile, floor finish, cabinet paint).
* Questions are asked only when the answer changes the price: a size that had to be assumed
  for a job worth >= 40 % of the quote, a structural unknown (load-bearing wall, roof leak
  source), or a hedge ("maybe need a C-wire"). Text that is not a job gives no lines, low
  confidence and a question.

Teaching it a new kind of job
-----------------------------
Add a ``kind(...)`` entry to the right ``kinds_*.py`` tuple: trigger patterns (normalised text),
the category key, how it is measured (``each`` with a count noun, ``sqft``, ``wall``, ``lf``,
``cuyd``, ``squares``, ``job``...), hours (fixed, per unit) and its ``line(...)`` specs; add any
new item keys with a price to that trade's category in ``templates.py``. A unit test in
``tests/unit/services/test_estimator.py`` checks that every item a kind uses has a template price.
"""

from backend.services.estimator.engine import estimate
from backend.services.estimator.templates import TRADES, all_templates, templates_for_trade
from backend.services.estimator.types import CategoryRates, Estimate, EstimateLine

__all__ = [
    "TRADES",
    "CategoryRates",
    "Estimate",
    "EstimateLine",
    "all_templates",
    "estimate",
    "templates_for_trade",
]
