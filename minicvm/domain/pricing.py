"""minicvm's price list, in CNY: the one table every price shown (the Inquiry* actions) is computed from.

The figures are minicvm's own, shaped like Tencent's list (README, "Prices"):

* an instance costs, per hour, its family's rate per vCPU plus its rate per GiB of memory;
* a cloud disk costs a rate per GiB-hour by disk type;
* bandwidth is per GB of traffic (TRAFFIC_POSTPAID_BY_HOUR), per Mbps-hour (BANDWIDTH_POSTPAID_BY_HOUR) or per
  Mbps-month (BANDWIDTH_PREPAID), the first 5 Mbps cheaper than the rest;
* a prepaid month is MONTH_HOURS hours at the pay-as-you-go rate, with a discount for long periods.

Pay-as-you-go prices fill ItemPrice's `UnitPrice`/`UnitPriceDiscount` (and the 96 h / 360 h steps, which are
the same here), prepaid ones `OriginalPrice`/`DiscountPrice`/`Discount` and the one, three and five-year figures;
the other fields are 0, as Tencent's examples show."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class FamilyRate:
    vcpu_hour: float
    gib_hour: float


FAMILY_RATES: dict[str, FamilyRate] = {
    "S5": FamilyRate(vcpu_hour=0.08, gib_hour=0.04),
    "SA2": FamilyRate(vcpu_hour=0.065, gib_hour=0.035),
    "M5": FamilyRate(vcpu_hour=0.08, gib_hour=0.03),
}
DISK_GIB_HOUR: dict[str, float] = {
    "LOCAL_BASIC": 0.0002, "LOCAL_SSD": 0.0006, "CLOUD_BASIC": 0.0004, "CLOUD_PREMIUM": 0.0005,
    "CLOUD_BSSD": 0.0010, "CLOUD_SSD": 0.0014, "CLOUD_HSSD": 0.0018, "CLOUD_TSSD": 0.0045,
}
TRAFFIC_GB = 0.80
# (rate for each of the first BANDWIDTH_TIER Mbps, rate for each Mbps above it)
BANDWIDTH_TIER = 5
BANDWIDTH_MBPS_HOUR = (0.063, 0.25)
BANDWIDTH_MBPS_MONTH = (23.0, 80.0)
MONTH_HOURS = 720
# Percent of the list price paid for a prepaid period of at least this many months (longest match wins).
PERIOD_DISCOUNT: tuple[tuple[int, float], ...] = ((1, 100.0), (12, 83.0), (24, 70.0), (36, 50.0), (60, 40.0))


class ChargeUnit(StrEnum):
    HOUR = "HOUR"
    GB = "GB"


class InternetCharge(StrEnum):
    TRAFFIC_POSTPAID_BY_HOUR = "TRAFFIC_POSTPAID_BY_HOUR"
    BANDWIDTH_POSTPAID_BY_HOUR = "BANDWIDTH_POSTPAID_BY_HOUR"
    BANDWIDTH_PREPAID = "BANDWIDTH_PREPAID"
    BANDWIDTH_PACKAGE = "BANDWIDTH_PACKAGE"


@dataclass(frozen=True)
class Disk:
    disk_type: str
    size: int  # GiB


@dataclass(frozen=True)
class Charge:
    """How something is paid for: by the hour, or prepaid for `months` (None = pay-as-you-go)."""

    months: int | None = None

    @property
    def prepaid(self) -> bool:
        return self.months is not None


POSTPAID = Charge()


@dataclass(frozen=True)
class ItemPrice:
    """Tencent's ItemPrice: a pay-as-you-go unit price or a prepaid total, everything else 0."""

    UnitPrice: float = 0.0
    ChargeUnit: str | None = None
    OriginalPrice: float = 0.0
    DiscountPrice: float = 0.0
    Discount: float = 0.0
    UnitPriceDiscount: float = 0.0
    UnitPriceSecondStep: float = 0.0
    UnitPriceDiscountSecondStep: float = 0.0
    UnitPriceThirdStep: float = 0.0
    UnitPriceDiscountThirdStep: float = 0.0
    OriginalPriceThreeYear: float = 0.0
    DiscountPriceThreeYear: float = 0.0
    DiscountThreeYear: float = 0.0
    OriginalPriceFiveYear: float = 0.0
    DiscountPriceFiveYear: float = 0.0
    DiscountFiveYear: float = 0.0
    OriginalPriceOneYear: float = 0.0
    DiscountPriceOneYear: float = 0.0
    DiscountOneYear: float = 0.0


@dataclass(frozen=True)
class Price:
    InstancePrice: ItemPrice
    BandwidthPrice: ItemPrice


def _money(value: float) -> float:
    return round(value, 4)


def discount(months: int) -> float:
    return [pct for least, pct in PERIOD_DISCOUNT if months >= least][-1]


def _item(hourly: float, charge: Charge, unit: ChargeUnit = ChargeUnit.HOUR) -> ItemPrice:
    """An hourly rate as ItemPrice: per unit when pay-as-you-go; as whole months (and years) when prepaid."""
    if not charge.prepaid:
        rate = _money(hourly)
        return ItemPrice(UnitPrice=rate, ChargeUnit=unit, UnitPriceDiscount=rate, UnitPriceSecondStep=rate,
                         UnitPriceDiscountSecondStep=rate, UnitPriceThirdStep=rate, UnitPriceDiscountThirdStep=rate)
    monthly = hourly * MONTH_HOURS
    assert charge.months is not None

    def total(months: int) -> tuple[float, float, float]:
        pct = discount(months)
        return _money(monthly * months), _money(monthly * months * pct / 100), pct

    original, discounted, pct = total(charge.months)
    one, three, five = total(12), total(36), total(60)
    return ItemPrice(OriginalPrice=original, DiscountPrice=discounted, Discount=pct,
                     OriginalPriceOneYear=one[0], DiscountPriceOneYear=one[1], DiscountOneYear=one[2],
                     OriginalPriceThreeYear=three[0], DiscountPriceThreeYear=three[1], DiscountThreeYear=three[2],
                     OriginalPriceFiveYear=five[0], DiscountPriceFiveYear=five[1], DiscountFiveYear=five[2])


def instance_hourly(family: str, cpu: int, memory: int) -> float:
    rate = FAMILY_RATES[family]
    return cpu * rate.vcpu_hour + memory * rate.gib_hour


def disks_hourly(disks: Iterable[Disk]) -> float:
    return sum(DISK_GIB_HOUR[d.disk_type] * d.size for d in disks)


def _tiered(mbps: int, rates: tuple[float, float]) -> float:
    low, high = rates
    return min(mbps, BANDWIDTH_TIER) * low + max(mbps - BANDWIDTH_TIER, 0) * high


def bandwidth_price(internet: InternetCharge, mbps: int, charge: Charge, count: int = 1) -> ItemPrice:
    """Public bandwidth of `count` instances; nothing to pay without a public link (0 Mbps) or in a package."""
    if mbps == 0 or internet is InternetCharge.BANDWIDTH_PACKAGE:
        return ItemPrice()
    if internet is InternetCharge.TRAFFIC_POSTPAID_BY_HOUR:
        return _item(TRAFFIC_GB, POSTPAID, ChargeUnit.GB)  # per GB whatever the number of instances
    if internet is InternetCharge.BANDWIDTH_PREPAID:
        return _item(_tiered(mbps, BANDWIDTH_MBPS_MONTH) / MONTH_HOURS * count, charge if charge.prepaid else Charge(1))
    return _item(_tiered(mbps, BANDWIDTH_MBPS_HOUR) * count, POSTPAID)


def instance_price(family: str, cpu: int, memory: int, disks: Iterable[Disk], charge: Charge,
                   count: int = 1) -> ItemPrice:
    """An instance with its disks (Tencent's InstancePrice includes the disks bought with it)."""
    return _item((instance_hourly(family, cpu, memory) + disks_hourly(disks)) * count, charge)


def disk_growth_price(disk_type: str, old_size: int, new_size: int, charge: Charge) -> ItemPrice:
    """What growing one disk adds."""
    return _item(DISK_GIB_HOUR[disk_type] * (new_size - old_size), charge)
