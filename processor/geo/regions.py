"""US states and territories by USPS code, so ``geo.region`` reads the same from every source.

US leads give ``address.state`` as a two-letter code, and rules compare ``geo.region`` with it; the
IP database spells states out ("California") while ZIP code data uses codes ("CA"). For the US,
every source's region is therefore turned into the USPS code.
"""

from __future__ import annotations

US_STATES: dict[str, str] = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "AS": "American Samoa",
    "GU": "Guam",
    "MP": "Northern Mariana Islands",
    "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands",
    "FM": "Federated States of Micronesia",
    "MH": "Marshall Islands",
    "PW": "Palau",
    "AA": "Armed Forces Americas",
    "AE": "Armed Forces Europe",
    "AP": "Armed Forces Pacific",
}
"""USPS codes of the states, the District of Columbia, territories, freely associated states and
military post offices: every ``state`` value US ZIP code data uses."""

ZIP_CODE_COUNTRIES = frozenset({"AS", "FM", "GU", "MH", "MP", "PR", "PW", "VI"})
"""Territories and freely associated states with their own ISO 3166 code whose addresses use US ZIP
codes; each one's ISO code is also its USPS code."""

_CODE_BY_NAME = {name.casefold(): code for code, name in US_STATES.items()}


def us_state_code(name: str) -> str | None:
    """The USPS code of a US state named by code or name, or None when ``name`` is neither."""
    key = name.strip()
    if key.upper() in US_STATES:
        return key.upper()
    return _CODE_BY_NAME.get(key.casefold())
