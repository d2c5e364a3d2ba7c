"""Synthetic but realistic departmental databases for the demo, tests and benchmarks.

Two legacy systems that disagree, as real ones do:
- 公安 household registration, table ``T_HJ_RKXX``: upper-case pinyin-initial column names,
  gender as GB codes '1'/'2', birth date as ``YYYYMMDD`` text, canonical 18-character IDs.
- 民政 civil affairs, table ``mz_jzxx``: lower-case names, gender as 男/女, birth dates in three
  formats (``1949-1-1``, ``1949/01/01``, ``1949年1月1日``), IDs with lower-case x, spaces,
  full-width digits or the old 15-digit form, amounts as text with thousands separators.
A seeded RNG makes the same seed give the same rows. ``bad_rate`` of civil-affairs rows carry an
ID number whose check character is wrong: the connector must dead-letter them, not drop them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from civicbus.connectors.base import SourceSettings
from civicbus.schemas.standards import uscc
from civicbus.schemas.standards.id_number import check_char

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国建华志强淑珍秀"
    "珍凤英玉珍海燕春梅德明国庆"
)
DIVISIONS = {
    "110101": ("东城区", ["东华门街道", "景山街道", "交道口街道"]),
    "110102": ("西城区", ["西长安街街道", "新街口街道", "月坛街道"]),
    "110105": ("朝阳区", ["建外街道", "朝外街道", "呼家楼街道"]),
    "110108": ("海淀区", ["万寿路街道", "羊坊店街道", "中关村街道"]),
    "110111": ("房山区", ["城关街道", "良乡镇", "长阳镇"]),
}
SUBSIDY_KINDS = ["低保", "特困", "高龄", "残疾"]
AMOUNTS = {"低保": "1,395.00", "特困": "2,100.00", "高龄": "100.00", "残疾": "105.50"}

metadata = sa.MetaData()
HUKOU = sa.Table(
    "T_HJ_RKXX",
    metadata,
    sa.Column("RKID", sa.Integer, primary_key=True, autoincrement=True, comment="人口ID"),
    sa.Column("GMSFHM", sa.String(18), comment="公民身份号码"),
    sa.Column("XM", sa.String(50), comment="姓名"),
    sa.Column("XB", sa.String(1), comment="性别 1男 2女"),
    sa.Column("CSRQ", sa.String(8), comment="出生日期 YYYYMMDD"),
    sa.Column("MZ", sa.String(2), comment="民族"),
    sa.Column("SSXQ", sa.String(6), comment="所属县区"),
    sa.Column("HJDZ", sa.String(200), comment="户籍地址"),
    sa.Column("HH", sa.String(20), comment="户号"),
    sa.Column("YHZGX", sa.String(4), comment="与户主关系 户主/配偶/子/女/父母/其他"),
    sa.Column("GXSJ", sa.DateTime, nullable=False, comment="更新时间"),
)
MINZHENG = sa.Table(
    "mz_jzxx",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sfzh", sa.String(40), comment="身份证号"),
    sa.Column("xm", sa.String(50)),
    sa.Column("xb", sa.String(4), comment="男/女"),
    sa.Column("csrq", sa.String(20), comment="出生日期，格式不一"),
    sa.Column("jzlb", sa.String(10), comment="救助类别"),
    sa.Column("yffje", sa.String(20), comment="月发放金额"),
    sa.Column("ksrq", sa.String(20)),
    sa.Column("zt", sa.String(10), comment="在保/暂停/退出"),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
WEIJIAN = sa.Table(
    "WJ_SWYXZM",
    metadata,
    sa.Column("ZMBH", sa.String(20), primary_key=True, comment="死亡医学证明编号"),
    sa.Column("SFZH", sa.String(18), comment="身份证号"),
    sa.Column("XM", sa.String(50), comment="姓名"),
    sa.Column("SWRQ", sa.String(10), comment="死亡日期 YYYY-MM-DD"),
    sa.Column("SWYYLB", sa.String(10), comment="死亡原因类别 疾病/损伤/其他"),
    sa.Column("SWDD", sa.String(10), comment="死亡地点 医疗机构/家中/其他"),
    sa.Column("GXSJ", sa.DateTime, nullable=False, comment="更新时间"),
)
CANLIAN = sa.Table(
    "CL_CJRZ",
    metadata,
    sa.Column("CJZH", sa.String(20), primary_key=True, comment="残疾人证号"),
    sa.Column("SFZH", sa.String(18), comment="身份证号"),
    sa.Column("XM", sa.String(50), comment="姓名"),
    sa.Column("CJLB", sa.String(2), comment="残疾类别 视力/听力/言语/肢体/智力/精神/多重"),
    sa.Column("CJDJ", sa.String(4), comment="残疾等级 一级至四级"),
    sa.Column("FZRQ", sa.String(10), comment="发证日期"),
    sa.Column("ZT", sa.String(4), comment="状态 有效/注销"),
    sa.Column("GXSJ", sa.DateTime, nullable=False, comment="更新时间"),
)
RENSHE = sa.Table(
    "rs_ylbx_cbxx",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sfzh", sa.String(18), comment="身份证号"),
    sa.Column("xm", sa.String(50)),
    sa.Column("xz", sa.String(10), comment="险种 职工养老/居民养老"),
    sa.Column("cbzt", sa.String(10), comment="参保状态 参保缴费/暂停缴费/待遇领取/终止参保"),
    sa.Column("yylj", sa.String(20), comment="月养老金"),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
SCJG = sa.Table(
    "SCZT_DJXX",
    metadata,
    sa.Column("TYSHXYDM", sa.String(18), primary_key=True, comment="统一社会信用代码"),
    sa.Column("QYMC", sa.String(100), comment="企业名称"),
    sa.Column("JGLB", sa.String(2), comment="机构类别（代码第1-2位）"),
    sa.Column("FDDBR", sa.String(50), comment="法定代表人"),
    sa.Column("SSXQ", sa.String(6), comment="所属县区"),
    sa.Column("ZS", sa.String(200), comment="住所"),
    sa.Column("CLRQ", sa.String(8), comment="成立日期 YYYYMMDD"),
    sa.Column("DJZT", sa.String(4), comment="登记状态 存续/吊销/注销"),
    sa.Column("GXSJ", sa.DateTime, nullable=False, comment="更新时间"),
)
YINGJI = sa.Table(
    "yj_aqjc",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("xydm", sa.String(18), comment="被检查单位统一社会信用代码"),
    sa.Column("jcrq", sa.String(20), comment="检查日期"),
    sa.Column("jcjl", sa.String(10), comment="检查结论 合格/责令整改/停产停业整顿"),
    sa.Column("wtms", sa.String(200), comment="问题描述"),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class Person:
    id_number: str
    name: str
    gender: str  # '1' / '2'
    birth: dt.date
    division: str
    address: str
    household: str


def make_id(rng: random.Random, division: str, birth: dt.date, gender: str) -> str:
    seq = rng.randrange(0, 100) * 10 + int(rng.choice("13579" if gender == "1" else "02468"))
    first17 = f"{division}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)


def person(rng: random.Random) -> Person:
    gender = rng.choice("12")
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 75))
    division = rng.choice(sorted(DIVISIONS))
    district, streets = DIVISIONS[division]
    address = f"北京市{district}{rng.choice(streets)}{rng.randrange(1, 200)}号院{rng.randrange(1, 30)}号楼"
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    return Person(
        make_id(rng, division, birth, gender),
        name,
        gender,
        birth,
        division,
        address,
        f"{division}{rng.randrange(10**7, 10**8)}",
    )


RELATIONS = ["配偶", "子", "女", "父母", "其他"]
"""How the sample registrations name a member's relation to the head (户主)."""


def hukou_row(p: Person, rng: random.Random, now: dt.datetime, relation: str = "户主") -> dict[str, object]:
    return {
        "GMSFHM": p.id_number,
        "XM": p.name,
        "XB": p.gender,
        "CSRQ": f"{p.birth:%Y%m%d}",
        "MZ": rng.choice(["01"] * 9 + ["03", "08"]),
        "SSXQ": p.division,
        "HJDZ": p.address,
        "HH": p.household,
        "YHZGX": relation,
        "GXSJ": now,
    }


def _legacy_id(p: Person, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.1 and p.birth.year >= 1900 and p.birth.year < 2000:
        return p.id_number[:6] + p.id_number[8:17]  # the old 15-digit number
    if style < 0.2:
        return p.id_number.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    if style < 0.3:
        return f"{p.id_number[:6]} {p.id_number[6:14]} {p.id_number[14:]}"
    return p.id_number.lower()


def _legacy_date(d: dt.date, rng: random.Random) -> str:
    return rng.choice([f"{d.year}-{d.month}-{d.day}", f"{d:%Y/%m/%d}", f"{d.year}年{d.month}月{d.day}日"])


def minzheng_row(p: Person, rng: random.Random, now: dt.datetime, bad: bool = False) -> dict[str, object]:
    kind = rng.choice(SUBSIDY_KINDS)
    sfzh = _legacy_id(p, rng)
    if bad:  # a typo in the check character, as re-keyed data has
        sfzh = p.id_number[:17] + ("0" if p.id_number[17] != "0" else "1")
    name = p.name if rng.random() > 0.03 else p.name[0] + rng.choice(GIVEN)  # re-keyed by hand
    return {
        "sfzh": sfzh,
        "xm": name,
        "xb": "男" if p.gender == "1" else "女",
        "csrq": _legacy_date(p.birth, rng),
        "jzlb": kind,
        "yffje": AMOUNTS[kind],
        "ksrq": _legacy_date(dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(0, 1500)), rng),
        "zt": rng.choice(["在保"] * 8 + ["暂停", "退出"]),
        "updated_at": now,
    }


def create(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    return engine


def local_now() -> dt.datetime:
    """Now as a departmental system stores it: naive wall time in the zone the demo connectors
    read it in (their ``source.timezone``, by default Asia/Shanghai), whatever this machine's zone."""
    zone = ZoneInfo(SourceSettings.model_fields["timezone"].default)
    return dt.datetime.now(zone).replace(tzinfo=None)


HOUSEHOLD_SIZES = (1, 2, 3, 4, 5)
HOUSEHOLD_WEIGHTS = (25, 30, 25, 15, 5)
"""Members per household and how often each size occurs (roughly a Chinese county's)."""


def generate(
    hukou_url: str,
    minzheng_url: str,
    residents: int,
    seed: int = 12345,
    subsidy_share: float = 0.3,
    bad_rate: float = 0.01,
    weijian_url: str | None = None,
    canlian_url: str | None = None,
    renshe_url: str | None = None,
) -> tuple[int, int]:
    """Write ``residents`` registrations and about ``subsidy_share`` as many subsidies; returns
    (hukou rows, civil-affairs rows). Five percent of subsidy holders are not registered here.
    Consecutive people share a household (number, division and address) of one to five members.
    With ``weijian_url``, the health commission's death certificates name about 2 % of the
    registered residents, most of them old; with ``canlian_url`` about 6 % hold a disability
    certificate; with ``renshe_url`` most adults have a pension insurance row."""
    rng = random.Random(seed)
    now = dt.datetime(2026, 1, 1, 8, 0, 0)
    hukou, minzheng = create(hukou_url), create(minzheng_url)
    h_rows: list[dict[str, object]] = []
    m_rows: list[dict[str, object]] = []
    w_rows: list[dict[str, object]] = []
    c_rows: list[dict[str, object]] = []
    r_rows: list[dict[str, object]] = []
    head: Person | None = None
    room = 0
    for i in range(residents):
        p = person(rng)
        is_head = room == 0
        if is_head:
            head, room = p, rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0]
        assert head is not None
        p = dataclasses.replace(p, division=head.division, address=head.address, household=head.household)
        room -= 1
        ts = now + dt.timedelta(seconds=i // 10)  # ten rows share each timestamp
        if rng.random() > 0.05 or i == 0:
            h_rows.append(hukou_row(p, rng, ts, "户主" if is_head else rng.choice(RELATIONS)))
            if rng.random() < (0.06 if p.birth.year < 1945 else 0.005):
                w_rows.append(weijian_row(p, rng, ts, len(w_rows)))
            if rng.random() < 0.06:
                c_rows.append(canlian_row(p, rng, ts))
            if p.birth.year < 2006 and rng.random() < 0.85:
                r_rows.append(renshe_row(p, rng, ts))
        if rng.random() < subsidy_share:
            m_rows.append(minzheng_row(p, rng, ts, bad=rng.random() < bad_rate))
    _write(hukou, HUKOU, h_rows)
    _write(minzheng, MINZHENG, m_rows)
    for url, table, rows in (
        (weijian_url, WEIJIAN, w_rows),
        (canlian_url, CANLIAN, c_rows),
        (renshe_url, RENSHE, r_rows),
    ):
        if url is not None:
            _write(create(url), table, rows)
    return len(h_rows), len(m_rows)


def _write(engine: sa.Engine, table: sa.Table, rows: list[dict[str, object]]) -> None:
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(table.insert(), rows[start : start + 5000])
    engine.dispose()


def weijian_row(p: Person, rng: random.Random, now: dt.datetime, n: int) -> dict[str, object]:
    died = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 360))
    return {
        "ZMBH": f"{p.division}{died:%Y}{n:08d}",
        "SFZH": p.id_number,
        "XM": p.name,
        "SWRQ": f"{died:%Y-%m-%d}",
        "SWYYLB": rng.choice(["疾病"] * 8 + ["损伤", "其他"]),
        "SWDD": rng.choice(["医疗机构"] * 6 + ["家中"] * 3 + ["其他"]),
        "GXSJ": now,
    }


DISABILITY_CATEGORIES = ["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]
GRADES = ["一级", "二级", "三级", "四级"]


def canlian_row(p: Person, rng: random.Random, now: dt.datetime) -> dict[str, object]:
    category, grade = rng.randrange(7), rng.randrange(4)
    issued = dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(0, 5000))
    return {
        "CJZH": f"{p.id_number}{category + 1}{grade + 1}",  # GB/T 26341: ID, category, grade
        "SFZH": p.id_number,
        "XM": p.name,
        "CJLB": DISABILITY_CATEGORIES[category],
        "CJDJ": GRADES[grade],
        "FZRQ": f"{issued:%Y-%m-%d}",
        "ZT": rng.choice(["有效"] * 19 + ["注销"]),
        "GXSJ": now,
    }


def renshe_row(p: Person, rng: random.Random, now: dt.datetime) -> dict[str, object]:
    retired = p.birth.year < 1966
    status = (
        rng.choice(["待遇领取"] * 9 + ["终止参保"])
        if retired
        else rng.choice(["参保缴费"] * 8 + ["暂停缴费"])
    )
    scheme = rng.choice(["职工养老"] * 6 + ["居民养老"] * 4)
    pension = None
    if status == "待遇领取":
        pension = f"{rng.randrange(150, 600) if scheme == '居民养老' else rng.randrange(2500, 6500)}.00"
    return {
        "sfzh": _legacy_id(p, rng),
        "xm": p.name,
        "xz": scheme,
        "cbzt": status,
        "yylj": pension,
        "updated_at": now,
    }


TRADES = ["科技", "商贸", "建筑", "餐饮", "物流", "化工", "食品", "机械"]
FINDINGS = ["消防通道堵塞", "安全培训记录缺失", "危险化学品存放不规范", "应急预案未演练"]


def credit_code(rng: random.Random, division: str) -> str:
    """A valid unified social credit code (GB 32100-2015) of a company registered in ``division``."""
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    first17 = f"91{division}{body}{uscc.org_check_char(body)}"
    return first17 + uscc.check_char(first17)


def generate_enterprises(scjg_url: str, yingji_url: str, count: int, seed: int = 54321) -> tuple[int, int]:
    """Write ``count`` market registrations (市场监管) and one to three safety inspections
    (应急管理) for about 40 % of them; returns (registrations, inspections)."""
    rng = random.Random(seed)
    now = dt.datetime(2026, 1, 1, 8, 0, 0)
    s_rows: list[dict[str, object]] = []
    y_rows: list[dict[str, object]] = []
    for i in range(count):
        owner = person(rng)
        code = credit_code(rng, owner.division)
        ts = now + dt.timedelta(seconds=i // 10)
        founded = dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 30))
        s_rows.append(
            {
                "TYSHXYDM": code,
                "QYMC": f"北京{rng.choice(GIVEN)}{rng.choice(GIVEN)}{rng.choice(TRADES)}有限公司",
                "JGLB": "91",
                "FDDBR": owner.name,
                "SSXQ": owner.division,
                "ZS": owner.address,
                "CLRQ": f"{founded:%Y%m%d}",
                "DJZT": rng.choice(["存续"] * 18 + ["吊销", "注销"]),
                "GXSJ": ts,
            }
        )
        for _ in range(rng.choice([0] * 6 + [1, 1, 2, 3])):
            result = rng.choice(["合格"] * 6 + ["责令整改"] * 3 + ["停产停业整顿"])
            y_rows.append(
                {
                    "xydm": code.lower() if rng.random() < 0.1 else code,  # typed by hand
                    "jcrq": _legacy_date(dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(0, 700)), rng),
                    "jcjl": result,
                    "wtms": None if result == "合格" else rng.choice(FINDINGS),
                    "updated_at": ts,
                }
            )
    _write(create(scjg_url), SCJG, s_rows)
    _write(create(yingji_url), YINGJI, y_rows)
    return len(s_rows), len(y_rows)


SAMPLE_VERSION = "3"
"""Changes whenever the sample tables change, so the demo rewrites databases written before."""


def sample_is_current(out: Path) -> bool:
    marker = out / "sample-version"
    return marker.exists() and marker.read_text().strip() == SAMPLE_VERSION


def write_demo(out: Path, residents: int, seed: int = 12345) -> str:
    """Every demo department's SQLite database in ``out`` (公安, 民政, 卫健, 残联, 人社, 市场监管,
    应急管理, one enterprise per ten residents); a line saying what was written."""
    out.mkdir(parents=True, exist_ok=True)
    h, m = generate(
        f"sqlite:///{out / 'hukou.db'}",
        f"sqlite:///{out / 'minzheng.db'}",
        residents,
        seed,
        weijian_url=f"sqlite:///{out / 'weijian.db'}",
        canlian_url=f"sqlite:///{out / 'canlian.db'}",
        renshe_url=f"sqlite:///{out / 'renshe.db'}",
    )
    e, i = generate_enterprises(
        f"sqlite:///{out / 'scjg.db'}", f"sqlite:///{out / 'yingji.db'}", max(residents // 10, 10)
    )
    (out / "sample-version").write_text(SAMPLE_VERSION)  # last: the set is complete
    return f"公安 {h} rows, 民政 {m} rows, 卫健, 残联, 人社, 市场监管 {e} rows, 应急管理 {i} rows in {out}"
