"""Starting pricing templates: the pricing brain a new contractor of each trade gets.

Prices are US sell prices (what the customer sees), researched against 2024-25 cost guides
(HomeAdvisor, Angi, HomeGuide, Fixr). ``markup_percent`` is the contractor's materials margin
and is informational: item prices already include it (see the package docstring).
Category keys are unique across trades, so a plumber's quote that needs painting can fall
back to the painting template's category by key.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

from backend.services.estimator.types import CategoryRates

TRADES: tuple[str, ...] = (
    "general", "plumbing", "electrical", "painting", "carpentry", "roofing", "hvac",
    "landscaping", "flooring", "remodeling", "cleaning",
)


def _cat(key: str, name: str, labor: str, markup: str, minimum: str, notes: str,
         prices: dict[str, str]) -> CategoryRates:
    return CategoryRates(
        key=key,
        display_name=name,
        labor_rate=Decimal(labor),
        markup_percent=Decimal(markup),
        min_charge=Decimal(minimum),
        unit_prices=MappingProxyType({item: Decimal(price) for item, price in prices.items()}),
        notes=notes,
    )


_TEMPLATES: dict[str, tuple[CategoryRates, ...]] = {
    "general": (
        _cat("handyman_repairs", "Handyman repairs", "75.00", "20.00", "150.00",
             "Small repairs; flat prices include labour unless the item says material.", {
                 "drywall_patch_small": "125.00", "drywall_patch_large": "265.00",
                 "door_rehang": "75.00", "door_hardware": "25.00", "tub_caulk": "125.00",
                 "caulk_lf": "2.50", "fan_grille": "45.00", "lockset": "55.00",
                 "weatherstrip_door": "45.00", "shelf": "55.00", "curtain_rod": "45.00",
                 "picture_hang": "25.00", "towel_bar": "45.00", "blind": "65.00",
                 "smoke_detector": "45.00", "materials_allowance": "45.00",
                 "haul_away": "95.00", "permit": "100.00",
             }),
        _cat("mounting_assembly", "Mounting and assembly", "75.00", "20.00", "125.00",
             "TV mounting, cord concealment, furniture assembly.", {
                 "tv_mount_labor": "150.00", "tv_mount_large_labor": "225.00",
                 "tv_bracket": "65.00", "fireplace_mount_surcharge": "75.00",
                 "cord_concealment": "165.00", "furniture_item": "85.00",
             }),
    ),
    "plumbing": (
        _cat("plumbing_fixtures", "Fixtures: faucets, toilets, sinks", "115.00", "25.00", "175.00",
             "Fixture prices are mid-grade, supplied and marked up.", {
                 "faucet_kitchen": "195.00", "faucet_bath": "135.00", "supply_line": "18.00",
                 "toilet": "285.00", "wax_ring": "15.00", "toilet_repair_kit": "45.00", "fill_valve": "28.00",
                 "flapper": "14.00", "garbage_disposal": "215.00", "sink_kitchen": "265.00",
                 "sink_bath": "150.00", "p_trap": "25.00", "shutoff_valve": "32.00",
                 "hose_bib": "55.00", "shower_cartridge": "65.00", "shower_head": "55.00",
                 "dishwasher_kit": "35.00", "tub_valve_trim": "185.00", "haul_away": "60.00",
                 "permit": "125.00",
             }),
        _cat("water_heaters", "Water heaters", "115.00", "25.00", "250.00",
             "Tank and tankless heaters, expansion tanks, code kits.", {
                 "water_heater_gas_tank": "1150.00", "water_heater_electric_tank": "875.00",
                 "water_heater_tankless": "2350.00", "water_heater_kit": "85.00",
                 "expansion_tank": "95.00", "haul_away": "85.00", "permit": "150.00",
             }),
        _cat("drains_sewer", "Drains and sewer", "115.00", "25.00", "150.00",
             "Flat-rate drain clearing.", {
                 "drain_clear_fixture": "175.00", "main_line_clear": "350.00",
                 "camera_inspection": "295.00", "hydro_jet": "525.00",
             }),
        _cat("pipe_repair", "Pipe repair and repiping", "115.00", "25.00", "175.00",
             "Leaks, valves, pipe runs, sump pumps, gas lines.", {
                 "repair_materials": "45.00", "pipe_pex_lf": "6.50", "pipe_copper_lf": "14.00",
                 "sump_pump": "295.00", "gas_line_lf": "18.00", "gas_valve": "45.00",
                 "haul_away": "60.00", "permit": "125.00",
             }),
    ),
    "electrical": (
        _cat("electrical_devices", "Outlets, switches and devices", "105.00", "25.00", "150.00",
             "Device prices are the part; labour is hourly.", {
                 "gfci_receptacle": "32.00", "receptacle": "9.00", "usb_receptacle": "35.00",
                 "switch": "9.00", "dimmer": "45.00", "smoke_detector": "45.00",
                 "new_box_materials": "45.00", "permit": "150.00", "haul_away": "50.00",
             }),
        _cat("lighting_fans", "Lighting and fans", "105.00", "25.00", "150.00",
             "Fixtures, recessed lights, ceiling and exhaust fans.", {
                 "ceiling_fan": "195.00", "fan_brace_box": "35.00", "light_fixture": "125.00",
                 "recessed_light": "48.00", "exhaust_fan": "145.00", "exhaust_duct_kit": "35.00",
                 "haul_away": "50.00", "permit": "150.00",
             }),
        _cat("panels_service", "Panels and service upgrades", "105.00", "25.00", "350.00",
             "Panel upgrades, breakers, subpanels, surge protection.", {
                 "panel_200a": "650.00", "service_entrance_kit": "475.00",
                 "grounding_kit": "125.00", "breaker": "55.00", "subpanel": "325.00",
                 "surge_protector": "195.00", "permit": "195.00", "haul_away": "75.00",
             }),
        _cat("circuits_wiring", "Circuits and wiring", "105.00", "25.00", "200.00",
             "New circuits, EV chargers, disconnects, wire runs.", {
                 "circuit_materials": "145.00", "wire_lf": "3.50", "ev_circuit_materials": "325.00",
                 "disconnect": "85.00", "permit": "150.00", "haul_away": "50.00",
             }),
    ),
    "painting": (
        _cat("interior_painting", "Interior painting", "55.00", "20.00", "250.00",
             "Per sq ft prices include labour and two coats of mid-grade paint.", {
                 "wall_paint_sqft": "1.45", "ceiling_paint_sqft": "1.10", "primer_sqft": "0.55",
                 "trim_paint_lf": "1.60", "door_paint": "85.00", "wallpaper_removal_sqft": "1.25",
                 "drywall_repair": "95.00",
             }),
        _cat("exterior_painting", "Exterior painting and staining", "55.00", "20.00", "800.00",
             "Exterior body priced per sq ft of paintable area.", {
                 "exterior_body_sqft": "1.85", "exterior_trim_lf": "2.25", "exterior_door": "135.00",
                 "exterior_prep_sqft": "0.35", "deck_stain_sqft": "1.25", "fence_stain_lf": "4.50",
                 "pressure_wash_sqft": "0.20",
             }),
        _cat("cabinet_finishing", "Cabinet painting", "55.00", "20.00", "600.00",
             "Sprayed finish, both sides, with primer.", {
                 "cabinet_door": "95.00", "drawer_front": "45.00", "cabinet_boxes": "550.00",
             }),
    ),
    "carpentry": (
        _cat("doors_windows", "Doors and windows", "75.00", "20.00", "200.00",
             "Hanging prices are labour per door; door prices are supplied units.", {
                 "door_prehung_interior": "185.00", "door_hang_prehung": "165.00",
                 "door_hang_slab": "125.00", "door_exterior": "650.00",
                 "door_hang_exterior": "450.00", "casing_lf": "1.45", "casing_install_lf": "2.75",
                 "window_install": "325.00", "haul_away": "75.00",
             }),
        _cat("trim_millwork", "Trim and millwork", "75.00", "20.00", "200.00",
             "Per linear foot; material priced separately from installation.", {
                 "baseboard_lf": "1.35", "baseboard_install_lf": "3.25", "crown_lf": "2.50",
                 "crown_install_lf": "5.50", "caulk_fill_lf": "0.65", "quarter_round_lf": "0.90",
                 "quarter_round_install_lf": "1.50", "shelf": "55.00",
             }),
        _cat("decks_exterior", "Decks, stairs and fences", "75.00", "20.00", "250.00",
             "Pressure-treated lumber unless noted.", {
                 "deck_board": "32.00", "deck_board_replace": "55.00", "stair_stringer": "38.00",
                 "stair_tread": "36.00", "deck_hardware": "45.00", "deck_new_sqft": "38.00",
                 "railing_lf": "45.00", "fence_lf": "32.00", "fence_gate": "375.00",
                 "rot_repair_materials": "65.00", "haul_away": "95.00", "permit": "150.00",
             }),
    ),
    "roofing": (
        _cat("roof_replacement", "Roof replacement", "85.00", "20.00", "2500.00",
             "Per square (100 sq ft) installed; tear-off priced per layer.", {
                 "shingles_architectural_sq": "365.00", "shingles_3tab_sq": "300.00",
                 "metal_roof_sq": "850.00", "tear_off_sq": "95.00", "underlayment_sq": "35.00",
                 "ice_water_sq": "95.00", "drip_edge_lf": "3.25", "ridge_vent_lf": "11.00",
                 "dumpster": "575.00", "permit": "275.00",
             }),
        _cat("roof_repair", "Roof repairs", "85.00", "20.00", "350.00",
             "Hourly repairs plus materials.", {
                 "shingle": "6.00", "vent_boot": "35.00", "flashing_materials": "85.00",
                 "repair_materials": "75.00", "roof_inspection": "225.00", "haul_away": "85.00",
                 "permit": "150.00",
             }),
        _cat("gutters", "Gutters", "85.00", "20.00", "250.00",
             "Seamless aluminium gutters and cleaning.", {
                 "gutter_lf": "11.00", "downspout": "95.00", "gutter_clean_lf": "1.35",
                 "gutter_guard_lf": "8.00", "haul_away": "85.00",
             }),
    ),
    "hvac": (
        _cat("hvac_maintenance", "HVAC maintenance", "115.00", "25.00", "99.00",
             "Flat-rate tune-ups; filters supplied.", {
                 "ac_tune_up": "129.00", "furnace_tune_up": "119.00", "filter": "25.00",
                 "duct_cleaning": "475.00", "coil_cleaning": "150.00",
             }),
        _cat("hvac_repair", "HVAC repairs", "115.00", "25.00", "129.00",
             "Parts are supplied and marked up; labour is hourly.", {
                 "diagnostic": "99.00", "igniter": "75.00", "flame_sensor": "45.00",
                 "capacitor": "55.00", "contactor": "65.00", "blower_motor": "385.00",
                 "refrigerant_lb": "90.00", "thermostat": "195.00", "c_wire_adapter": "45.00",
             }),
        _cat("hvac_equipment", "HVAC equipment installs", "115.00", "25.00", "500.00",
             "Equipment prices are supplied units.", {
                 "mini_split_12k": "1450.00", "mini_split_18k": "1750.00",
                 "mini_split_24k": "2150.00", "line_set_lf": "18.00", "equipment_pad": "95.00",
                 "disconnect": "85.00", "furnace": "2900.00", "ac_condenser_ton": "1150.00",
                 "haul_away": "125.00", "permit": "175.00",
             }),
    ),
    "landscaping": (
        _cat("lawn_care", "Lawn care", "60.00", "20.00", "95.00",
             "Per sq ft of lawn.", {
                 "aeration_sqft": "0.028", "overseed_sqft": "0.035", "fertilize_sqft": "0.015",
                 "dethatch_sqft": "0.04", "mowing_visit": "55.00",
             }),
        _cat("beds_cleanup", "Beds, mulch and cleanups", "60.00", "20.00", "150.00",
             "Mulch per cubic yard, supplied and spread.", {
                 "mulch_cuyd": "78.00", "edging_lf": "1.75", "plant_shrub": "65.00",
                 "debris_haul": "125.00", "haul_away": "125.00",
             }),
        _cat("sod_grading", "Sod, topsoil and grading", "60.00", "20.00", "400.00",
             "Per sq ft installed.", {
                 "sod_sqft": "1.25", "strip_sqft": "0.45", "topsoil_cuyd": "65.00",
                 "grading_sqft": "0.30", "haul_away": "125.00",
             }),
        _cat("hardscape", "Hardscape", "60.00", "20.00", "500.00",
             "Pavers, gravel, retaining walls.", {
                 "pavers_sqft": "19.00", "gravel_cuyd": "75.00", "retaining_wall_sqft": "38.00",
                 "haul_away": "125.00",
             }),
        _cat("trees_shrubs", "Trees and shrubs", "60.00", "20.00", "150.00",
             "Removal includes haul-away.", {
                 "shrub_removal": "85.00", "tree_removal": "750.00", "stump_grinding": "175.00",
                 "haul_away": "125.00",
             }),
    ),
    "flooring": (
        _cat("flooring_install", "Flooring installation", "65.00", "20.00", "300.00",
             "Material and installation per sq ft; material includes waste allowance.", {
                 "lvp_sqft": "3.10", "lvp_install_sqft": "2.35", "laminate_sqft": "2.40",
                 "laminate_install_sqft": "2.10", "hardwood_sqft": "6.50",
                 "hardwood_install_sqft": "4.50", "engineered_sqft": "5.25",
                 "engineered_install_sqft": "3.75", "carpet_sqft": "2.85", "carpet_pad_sqft": "0.70",
                 "carpet_install_sqft": "1.10", "underlayment_sqft": "0.55",
                 "transition_strip": "35.00", "haul_away": "175.00",
             }),
        _cat("tile_work", "Tile", "65.00", "20.00", "350.00",
             "Per sq ft; setting materials are thinset, grout and sealer.", {
                 "floor_tile_install_sqft": "7.50", "floor_tile_sqft": "3.75",
                 "setting_materials_sqft": "1.25", "backsplash_install_sqft": "16.00",
                 "backsplash_tile_sqft": "9.00", "wall_tile_install_sqft": "14.00",
                 "wall_tile_sqft": "5.00", "backer_board_sqft": "2.75", "haul_away": "175.00",
             }),
        _cat("floor_refinishing", "Floor refinishing", "65.00", "20.00", "450.00",
             "Finish priced per sq ft per coat.", {
                 "sand_refinish_sqft": "2.10", "stain_sqft": "0.55", "finish_coat_sqft": "0.40",
                 "screen_recoat_sqft": "1.25",
             }),
        _cat("floor_prep", "Removal and subfloor prep", "65.00", "20.00", "200.00",
             "Tear-out per sq ft; haul-away per load.", {
                 "carpet_removal_sqft": "0.65", "tile_removal_sqft": "2.25",
                 "floor_removal_sqft": "1.25", "subfloor_sheet": "75.00",
                 "self_leveler_sqft": "2.50", "haul_away": "175.00",
             }),
    ),
    "remodeling": (
        _cat("demolition", "Demolition and haul-away", "75.00", "20.00", "500.00",
             "Demolition is hourly; dumpster or haul-away per load.", {
                 "dumpster": "450.00", "haul_away": "250.00",
             }),
        _cat("bathroom_remodel", "Bathroom remodel", "75.00", "20.00", "500.00",
             "Fixture allowances are mid-grade.", {
                 "bathtub": "525.00", "tub_drain_kit": "185.00", "vanity": "650.00", "vanity_large": "1100.00",
                 "mirror": "85.00", "bath_accessories": "120.00", "shower_glass": "950.00",
                 "permit": "250.00", "bath_remodel_allowance": "12000.00",
             }),
        _cat("kitchen_remodel", "Kitchen remodel", "75.00", "20.00", "500.00",
             "Cabinets per linear foot installed; countertops per sq ft installed.", {
                 "cabinets_lf": "325.00", "countertop_quartz_sqft": "80.00",
                 "countertop_granite_sqft": "70.00", "countertop_laminate_sqft": "35.00",
                 "appliance_install": "175.00", "kitchen_remodel_allowance": "28000.00",
                 "kitchen_refresh_allowance": "9500.00",
                 "permit": "350.00",
             }),
        _cat("structural_framing", "Walls, framing and drywall", "75.00", "20.00", "1000.00",
             "Wall removal assumes non-load-bearing unless a beam is listed.", {
                 "opening_finish": "650.00", "beam_allowance": "2200.00",
                 "framing_materials": "150.00", "drywall_sqft": "3.50",
                 "basement_finish_sqft": "45.00", "haul_away": "250.00", "permit": "350.00",
             }),
    ),
    "cleaning": (
        _cat("residential_cleaning", "Residential cleaning", "45.00", "0.00", "120.00",
             "Per sq ft of home; add-ons flat.", {
                 "standard_clean_sqft": "0.11", "deep_clean_sqft": "0.18",
                 "move_out_clean_sqft": "0.20", "post_construction_sqft": "0.30",
                 "oven_inside": "45.00", "fridge_inside": "40.00", "cabinets_inside": "60.00",
                 "window_inside": "7.00", "laundry_load": "20.00",
             }),
        _cat("carpet_upholstery", "Carpet and upholstery", "45.00", "0.00", "120.00",
             "Hot-water extraction per room.", {
                 "carpet_room": "45.00", "upholstery_seat": "35.00", "stair_carpet": "4.00",
             }),
        _cat("exterior_cleaning", "Exterior cleaning", "45.00", "0.00", "150.00",
             "Pressure washing per sq ft; windows per pane.", {
                 "pressure_wash_sqft": "0.25", "window_exterior": "8.00",
             }),
    ),
}

_BY_KEY: dict[str, tuple[str, CategoryRates]] = {
    cat.key: (trade, cat) for trade, cats in _TEMPLATES.items() for cat in cats
}


def templates_for_trade(trade: str) -> list[CategoryRates]:
    """The starting categories of ``trade`` (``general`` for an unknown trade)."""
    return list(_TEMPLATES.get(trade, _TEMPLATES["general"]))


def all_templates() -> dict[str, list[CategoryRates]]:
    """Every trade's starting categories, in ``TRADES`` order."""
    return {trade: list(_TEMPLATES[trade]) for trade in TRADES}


def template_category(key: str) -> CategoryRates | None:
    """The template category with this key, from whichever trade defines it."""
    found = _BY_KEY.get(key)
    return found[1] if found else None


def template_trade(key: str) -> str | None:
    """The trade whose template defines category ``key``."""
    found = _BY_KEY.get(key)
    return found[0] if found else None
