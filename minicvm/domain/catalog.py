"""What this cloud sells: regions, zones, images and instance types, named and sized as Tencent's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Zone:
    zone: str
    zone_id: str
    name_en: str
    name_zh: str


@dataclass(frozen=True)
class Region:
    region: str
    name_en: str
    name_zh: str
    zones: tuple[Zone, ...]


def _zones(region: str, city_en: str, city_zh: str, numbers: tuple[int, ...], base_id: int) -> tuple[Zone, ...]:
    zh_numbers = "零一二三四五六七八九"
    return tuple(
        Zone(f"{region}-{n}", str(base_id + n), f"{city_en} Zone {n}", f"{city_zh}{zh_numbers[n]}区")
        for n in numbers
    )


REGIONS: dict[str, Region] = {
    r.region: r
    for r in (
        Region("ap-guangzhou", "South China(Guangzhou)", "华南地区(广州)",
               _zones("ap-guangzhou", "Guangzhou", "广州", (3, 4, 6, 7), 100000)),
        Region("ap-shanghai", "East China(Shanghai)", "华东地区(上海)",
               _zones("ap-shanghai", "Shanghai", "上海", (2, 3, 4, 5), 200000)),
        Region("ap-beijing", "North China(Beijing)", "华北地区(北京)",
               _zones("ap-beijing", "Beijing", "北京", (3, 5, 6, 7), 800000)),
    )
}

ZONES: dict[str, tuple[str, Zone]] = {z.zone: (r.region, z) for r in REGIONS.values() for z in r.zones}


def zone_index(zone: str) -> int:
    """Position of the zone within its region (0-based); numbers the default subnet."""
    region, _ = ZONES[zone]
    return [z.zone for z in REGIONS[region].zones].index(zone)


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    cpu: int
    memory: int  # GiB


def _family(family: str, sizes: tuple[tuple[str, int, int], ...]) -> list[InstanceType]:
    return [InstanceType(f"{family}.{size}", family, cpu, mem) for size, cpu, mem in sizes]


_STANDARD = (
    ("SMALL1", 1, 1), ("SMALL2", 1, 2), ("SMALL4", 1, 4), ("MEDIUM2", 2, 2), ("MEDIUM4", 2, 4),
    ("MEDIUM8", 2, 8), ("LARGE8", 4, 8), ("LARGE16", 4, 16), ("2XLARGE16", 8, 16), ("2XLARGE32", 8, 32),
)
INSTANCE_TYPES: dict[str, InstanceType] = {
    t.name: t for fam in ("S5", "SA2") for t in _family(fam, _STANDARD)
}
INSTANCE_TYPES.update({t.name: t for t in _family("M5", (("MEDIUM16", 2, 16), ("LARGE32", 4, 32)))})
DEFAULT_INSTANCE_TYPE = "S5.MEDIUM4"


@dataclass(frozen=True)
class Family:
    name: str  # as DescribeZoneInstanceConfigInfos' TypeName says it
    vendor: str  # an instance changes type only among families of the same CPU vendor
    cpu_type: str
    frequency: str


FAMILIES: dict[str, Family] = {
    "S5": Family("Standard S5", "Intel", "Intel Xeon Cascade Lake 8255C/Intel Xeon Cooper Lake", "2.5/3.1GHz"),
    "M5": Family("Memory Optimized M5", "Intel", "Intel Xeon Cascade Lake 8255C", "2.5/3.1GHz"),
    "SA2": Family("Standard SA2", "AMD", "AMD EPYC ROME", "2.6/3.3GHz"),
}


@dataclass(frozen=True)
class Image:
    image_id: str
    name: str
    os_name: str
    platform: str
    size: int
    login_user: str = "root"


IMAGES: dict[str, Image] = {
    i.image_id: i
    for i in (
        Image("img-pi0ii46r", "Ubuntu Server 22.04 LTS 64bit", "Ubuntu Server 22.04 LTS 64bit", "Ubuntu", 20,
              "ubuntu"),
        Image("img-l8og963d", "TencentOS Server 3.1 (TK4)", "TencentOS Server 3.1 (TK4)", "TencentOS", 20),
        Image("img-eb30mz89", "Debian 12.0 64bit", "Debian 12.0 64bit", "Debian", 20),
    )
}

SYSTEM_DISK_TYPES = ("CLOUD_BASIC", "CLOUD_PREMIUM", "CLOUD_SSD", "CLOUD_BSSD", "CLOUD_HSSD", "LOCAL_BASIC",
                     "LOCAL_SSD", "CLOUD_TSSD")
DATA_DISK_TYPES = ("LOCAL_BASIC", "LOCAL_SSD", "CLOUD_BASIC", "CLOUD_PREMIUM", "CLOUD_SSD", "CLOUD_HSSD",
                   "CLOUD_TSSD", "CLOUD_BSSD")
CLOUD_DISK_TYPES = frozenset(t for t in DATA_DISK_TYPES if t.startswith("CLOUD_"))
# Size limits in GiB: (system min, system max), (data min, data max).
SYSTEM_DISK_RANGE = (20, 1024)
DATA_DISK_RANGE = (10, 32000)
DISK_STEP = 10
