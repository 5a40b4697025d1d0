"""Build the shipped golden sample sets: ``golden_en.jsonl`` and ``golden_zh.jsonl``.

The content lives here as Python data so that it is reviewable and the JSONL files are
reproducible byte for byte.  Run from anywhere::

    python3 samples/_build_golden.py

Each query is a ``Q(...)`` with its documents.  A query marked ``ladder="<name>"`` turns its
documents into a ladder: the first document gets ``ladder:<name>:1`` (most relevant), the
second ``ladder:<name>:2`` and so on, so documents must be listed best first and their labels
must not increase.  ``ki=True`` on a document adds the ``known_irrelevant`` tag (label 0) and
``long=True`` the ``long`` tag (a document well beyond 512 model tokens).

Texts are written as wrapped triple-quoted strings: ``en()`` joins wrapped lines with a space,
``zh()`` joins them with nothing; a blank line starts a new paragraph (kept as a blank line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _join(text: str, sep: str) -> str:
    paragraphs, current = [], []
    for line in text.strip().splitlines():
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            paragraphs.append(sep.join(current))
            current = []
    if current:
        paragraphs.append(sep.join(current))
    return "\n\n".join(paragraphs)


def en(text: str) -> str:
    return _join(text, " ")


def zh(text: str) -> str:
    return _join(text, "")


@dataclass(frozen=True)
class D:
    """One document for a query."""

    text: str
    label: int
    ki: bool = False
    long: bool = False


@dataclass(frozen=True)
class Q:
    """One query with its documents (best first when ``ladder`` is set)."""

    query: str
    docs: list[D] = field(default_factory=list)
    ladder: str | None = None


# ---------------------------------------------------------------------------------------------
# English
# ---------------------------------------------------------------------------------------------

EN_ROTH_IRA_GUIDE = en("""
To open a Roth IRA, choose a brokerage, bank or robo-advisor that offers Roth IRA accounts,
fill out its online Roth IRA application with your Social Security number, date of birth,
address, employment details and a beneficiary, then link your bank account and fund the Roth
IRA with your first contribution. Once the money arrives, pick the investments you want to hold
inside the account. Opening a Roth IRA online usually takes about fifteen minutes, and many
providers have no account minimum and no opening fee.

Step one is to check that you are eligible. You can contribute to a Roth IRA only if you, or
your spouse when you file a joint tax return, have earned income such as wages, salary, tips,
commissions or net self-employment earnings. Investment income, pensions and rental income do
not count. There is also an income ceiling. For the 2024 tax year the amount you may contribute
phases out for single filers with a modified adjusted gross income between $146,000 and
$161,000, and for married couples filing jointly between $230,000 and $240,000. Above the top of
the range you cannot contribute directly, although many high earners use the so-called backdoor
Roth, a nondeductible contribution to a traditional IRA that is then converted.

Step two is to choose where to open the account. Large discount brokerages offer the widest
menu of stocks, bonds, exchange-traded funds and mutual funds, usually with no trading
commissions. Robo-advisors build and rebalance a diversified portfolio for you in exchange for
a small annual advisory fee, which suits people who do not want to pick funds themselves. Banks
and credit unions sometimes offer Roth IRAs that hold only savings accounts or certificates of
deposit; these are safe but grow slowly over decades. Compare account fees, fund expense ratios,
the quality of the mobile app and whether you can reach a person when you need help.

Step three is to gather what the application asks for: your Social Security number, a
government-issued ID such as a driver's license, your employer's name and address, and the
routing and account numbers of the bank account that will fund the IRA. You will also be asked
to name a primary beneficiary and, ideally, a contingent beneficiary. Naming beneficiaries now
keeps the account out of probate later and takes only a minute.

Step four is to fund the account. You can make a one-time transfer, set up automatic monthly
contributions, or move money from another IRA by direct transfer. The annual contribution limit
for 2024 is $7,000, or $8,000 if you are 50 or older, and it is shared across all of your
traditional and Roth IRAs. You may make contributions for a given tax year until the federal tax
filing deadline in April of the following year, so be sure to tell the provider which year each
deposit is for.

Step five is the one people most often forget: invest the money. A Roth IRA is only a container.
Cash that sits in the settlement fund earns little, and the whole point of the account is
tax-free growth. A single target-date fund that matches the year you expect to retire is a
reasonable default, as is a simple mix of a broad stock index fund and a bond index fund.

It helps to understand the withdrawal rules before you begin. Your own contributions can be
taken out at any time, for any reason, without tax or penalty. Earnings are different: to
withdraw them tax-free, the withdrawal must be qualified, which generally means you are at least
59 and a half years old and your first Roth IRA contribution was made at least five tax years
earlier. Unlike a traditional IRA, a Roth IRA has no required minimum distributions during the
original owner's lifetime, which makes it useful for estate planning as well.

Finally, avoid the common mistakes. Contributing more than the limit, or contributing when your
income is too high, triggers a six percent excise tax for every year the excess stays in the
account, so withdraw any excess before the tax deadline. Keep a record of your contributions,
since they determine what you can withdraw penalty-free. And if your spouse has little or no
income, remember that a spousal Roth IRA lets the working spouse fund an account in the other
spouse's name, doubling what a household can put away each year.
""")

EN_MARATHON_GUIDE = en("""
A beginner training for a first marathon should build up gradually over about 16 to 20 weeks,
running four days a week: three short easy runs and one long run that grows by one or two miles
each week until it reaches 18 to 20 miles about three weeks before race day. Most of that
running should be at an easy, conversational pace, and every third or fourth week should cut
the mileage back so the body can recover and adapt. Before starting a marathon plan, you should
already be able to run three to five miles comfortably several times a week.

The long run is the heart of marathon training. It teaches your legs to handle hours on their
feet, trains your body to burn fat efficiently and gives you a chance to practise fuelling.
Run it slowly, at least a minute per mile slower than your goal marathon pace, and do not worry
about walking breaks; many first-time marathoners finish strongly using a run-walk method. Plan
the long run for a day when you can rest afterwards, and resist the temptation to make it longer
than the plan says. Going beyond 20 miles in training adds injury risk without adding much
fitness for a beginner.

The short runs during the week keep your aerobic base growing. Keep them easy. Once you have
a few weeks of consistent running behind you, you can make one of them a little more demanding,
for example by adding a few strides at the end or running the middle miles at your goal
marathon pace. Avoid hard interval sessions until you have more experience; for a first
marathon, the goal is to reach the start line healthy and finish, not to set a fast time.

Rest days and cross-training matter as much as the runs. Cycling, swimming and brisk walking
build fitness with less pounding on the joints. Two short strength sessions a week that target
the hips, glutes, core and calves, such as squats, lunges, planks and calf raises, make you more
resilient and help prevent the most common running injuries. Sleep at least seven to eight
hours a night; most adaptation happens while you recover, not while you run.

Practise your race-day nutrition on your long runs. For runs longer than about 75 minutes, take
in carbohydrate every 30 to 45 minutes, usually as energy gels, chews or a sports drink, and
drink to thirst. Find out which drink and gels the race will provide on the course and train
with them, because a stomach that has never met a particular gel may rebel at mile 18. Eat a
familiar, carbohydrate-rich breakfast two to three hours before your long runs, just as you will
on race morning.

Buy running shoes from a specialty store where staff can watch you run, and replace them after
roughly 300 to 500 miles. Break in anything you plan to wear on race day, including socks,
shorts and shirt, during at least two long runs. Nothing new on race day is the oldest rule in
marathon running for a reason.

Listen to your body. Normal training fatigue feels like general tiredness and heavy legs that
improve with a rest day. Sharp pain, pain that makes you change your stride, or pain that gets
worse as you run is a warning sign; stop, rest and see a professional if it persists. Missing a
few runs will not ruin your marathon, but training through an injury can.

Taper for the final two to three weeks by reducing your weekly mileage by about 20 to 50
percent while keeping a little marathon-pace running in the mix. You may feel restless and
sluggish during the taper; that is normal. On race day, start slower than you think you should,
because adrenaline makes the first miles feel easy. Stick to the fuelling plan you practised,
walk through the aid stations if that helps, and save your effort for the final six miles.
Crossing the finish line of your first marathon is the reward for months of patient,
consistent training.
""")

EN_BYZANTINE_ARTICLE = en("""
The Byzantine Empire, also called the Eastern Roman Empire, was the continuation of the Roman
Empire in its eastern provinces during Late Antiquity and the Middle Ages, when its capital was
Constantinople. It survived the fragmentation and fall of the Western Roman Empire in the fifth
century and continued to exist for an additional thousand years until the city fell to the
Ottoman Turks in 1453. During most of its existence, the empire remained the most powerful
economic, cultural and military force in the eastern Mediterranean.

The term Byzantine was coined by Western historians long after the empire ended. Its citizens
called themselves Romans, and they regarded their state as the Roman Empire without
interruption. The emperor Constantine the Great refounded the ancient Greek colony of Byzantium
as a new imperial residence in 330, naming it Constantinople. Over the following centuries the
city grew into the largest and wealthiest in Europe, protected by the massive Theodosian Walls
and sitting astride the trade routes between Europe and Asia.

Under Justinian the First, who reigned from 527 to 565, the empire reached its greatest extent
after Late Antiquity. His generals Belisarius and Narses reconquered North Africa, Italy and
part of southern Spain. Justinian also ordered the codification of Roman law, known as the
Corpus Juris Civilis, which later shaped the legal systems of much of continental Europe, and
he commissioned the great church of Hagia Sophia, whose enormous dome astonished visitors for
centuries. His reign, however, was also marked by a devastating pandemic of plague and by wars
that strained the treasury.

In the seventh century the empire faced an existential crisis. A long war with Sasanian Persia
exhausted both states, and the Arab conquests that followed stripped away Syria, Palestine,
Egypt and eventually North Africa. Greek replaced Latin as the language of government, and the
state reorganised its provinces into military districts called themes, in which soldiers were
granted land in return for hereditary service. This reform helped the empire survive repeated
sieges of Constantinople.

The eighth and ninth centuries were shaken by the iconoclast controversy, a bitter dispute over
whether religious images could be venerated. The restoration of icons in 843 was followed by a
period of revival under the Macedonian dynasty. Emperors such as Basil the Second expanded the
frontiers into the Balkans and Armenia, and missionaries carried Orthodox Christianity and the
Cyrillic script to the Slavic peoples, leaving a lasting cultural mark on Eastern Europe.

Decline set in after the Battle of Manzikert in 1071, when the Seljuk Turks defeated the imperial
army and overran much of Anatolia. The Komnenian emperors restored some stability, but in 1204
the soldiers of the Fourth Crusade sacked Constantinople and divided the empire among Latin
lords. Although the Byzantines recaptured their capital in 1261, the restored state was small,
poor and surrounded by rivals. The rising Ottoman state gradually absorbed its remaining
territory, and on 29 May 1453 Sultan Mehmed the Second took Constantinople after a long siege,
bringing the empire to an end.

Byzantine society was held together by a professional civil service, a sophisticated tax
system and a gold coin, the solidus, that kept its value for some seven centuries and was
accepted by merchants from the Atlantic to the Indian Ocean. Silk production, introduced from
the East in the sixth century, became an imperial monopoly. Constantinople's markets traded in
spices, furs, slaves and manuscripts, and its guilds were closely regulated by the city prefect.

The legacy of Byzantium is immense. It preserved much of ancient Greek literature and
philosophy, which later reached Western Europe and contributed to the Renaissance. Its art,
especially its mosaics and icons, influenced painters from Venice to Moscow. Its diplomacy,
court ceremonial and bureaucracy served as models for neighbouring states, and the Eastern
Orthodox Church remains one of its most enduring institutions. Historians today increasingly
see the empire not as a stagnant relic but as a resilient and inventive society that adapted
to a thousand years of changing threats.
""")

EN: list[Q] = [
    # -- ladders -----------------------------------------------------------------------------
    Q("How do I sell my shirt?", ladder="sell_shirt", docs=[
        D(en("""
            To sell your shirt, create a listing on our marketplace: take clear photos of the
            shirt, describe its size, brand and condition, set a price and ship the shirt as
            soon as it sells. Sellers get paid within two days of delivery.
            """), 3),
        D(en("""
            How to sell your clothes online: sort out the clothing you no longer wear, check it
            for stains or damage, photograph each item in good light and list it on a resale
            app or website with honest descriptions and fair prices.
            """), 2),
        D("You can sell your apples at the store.", 1),
        D("Ketchup is a condiment made from tomatoes.", 0, ki=True),
    ]),
    Q("How long do you boil an egg for a hard-boiled egg?", ladder="boil_egg", docs=[
        D(en("""
            To make a hard-boiled egg, lower the eggs into a pot of boiling water and boil them
            for 10 to 12 minutes, then move them to ice water. Boiling an egg this long gives a
            fully set yolk.
            """), 3),
        D(en("""
            Older eggs peel more easily than very fresh ones. After cooking, chill eggs in cold
            water and tap the shell gently all over before peeling it away.
            """), 2),
        D(en("""
            Pancakes are made from flour, milk and a little sugar, cooked in a hot buttered
            pan until golden on both sides.
            """), 1),
        D("The stock market closed higher on Friday after strong quarterly earnings reports.",
          0, ki=True),
    ]),
    Q("How do I reverse a list in Python?", ladder="python_reverse_list", docs=[
        D(en("""
            To reverse a list in Python, call my_list.reverse() to reverse the list in place,
            or use slicing, my_list[::-1], to get a new reversed list. The built-in
            reversed(my_list) returns a reverse iterator over the list.
            """), 3),
        D(en("""
            Python lists are ordered, mutable sequences. You can append items, insert them at a
            position, remove them, and loop over a list with a for statement.
            """), 2),
        D(en("""
            Python is a popular programming language with a readable syntax, a large standard
            library and a huge ecosystem of third-party packages.
            """), 1),
        D("Tulips bloom in spring and come in almost every color except true blue.", 0, ki=True),
    ]),
    Q("What are the symptoms of dehydration?", ladder="dehydration", docs=[
        D(en("""
            Common symptoms of dehydration include intense thirst, a dry mouth, dark yellow
            urine, headache, dizziness and tiredness. Severe dehydration can cause confusion, a
            rapid heartbeat and fainting and needs urgent medical care.
            """), 3),
        D(en("""
            To avoid becoming dehydrated, drink water regularly throughout the day, especially
            in hot weather, during exercise or when you are ill with a fever.
            """), 2),
        D(en("""
            Heatstroke is a medical emergency in which body temperature rises above 40 degrees
            Celsius, often after hard physical work in hot weather.
            """), 1),
        D("The Eiffel Tower was completed in 1889 for the World's Fair in Paris.", 0, ki=True),
    ]),
    Q("Do US citizens need a visa to visit Japan?", ladder="japan_visa", docs=[
        D(en("""
            US citizens do not need a visa to visit Japan for tourism or business trips of up to
            90 days. You only need a US passport valid for the length of your stay and a return
            or onward ticket; a visa is required only for work or long-term study.
            """), 3),
        D(en("""
            Japan is a popular travel destination, famous for Tokyo, the temples of Kyoto, cherry
            blossoms in spring and its fast, punctual bullet trains.
            """), 2),
        D(en("""
            When traveling abroad, buy travel insurance, keep digital copies of your documents
            and tell your bank which countries you are visiting.
            """), 1),
        D("Photosynthesis converts sunlight, carbon dioxide and moisture into glucose.",
          0, ki=True),
    ]),
    Q("What is the capital of Australia?", ladder="capital_australia", docs=[
        D(en("""
            The capital of Australia is Canberra. Canberra was purpose-built as the capital city
            as a compromise between Sydney and Melbourne, and Parliament has met there since
            1927.
            """), 3),
        D(en("""
            Sydney is the largest city in Australia, famous for its Opera House, its Harbour
            Bridge and Bondi Beach.
            """), 2),
        D(en("""
            Kangaroos, wombats and koalas are marsupials that carry their young in a pouch.
            """), 1),
        D(en("""
            A good espresso uses finely ground coffee and hot water pushed through it at high
            pressure for about 25 seconds.
            """), 0, ki=True),
    ]),
    Q("How many players are on a soccer team on the field?", ladder="soccer_players", docs=[
        D(en("""
            A soccer team has eleven players on the field at a time: one goalkeeper and ten
            outfield players. A team that falls below seven players cannot continue the match.
            """), 3),
        D(en("""
            A soccer match lasts 90 minutes, split into two halves of 45 minutes, with stoppage
            time added by the referee at the end of each half.
            """), 2),
        D(en("""
            Tennis is played on a rectangular court, and a set is won by the first player to
            take six games with a two-game lead.
            """), 1),
    ]),
    Q("How do I open a Roth IRA?", ladder="roth_ira", docs=[
        D(EN_ROTH_IRA_GUIDE, 3, long=True),
        D(en("""
            A Roth IRA is an individual retirement account funded with after-tax money.
            Contributions are not tax-deductible, but qualified withdrawals in retirement,
            including all the investment growth, are completely tax-free.
            """), 2),
        D(en("""
            A 401(k) is a retirement savings plan offered by employers. Workers contribute part
            of each paycheck, and many companies add a matching contribution.
            """), 1),
        D(en("""
            The Great Barrier Reef, off the coast of Queensland, is the world's largest coral
            reef system and can be seen from outer space.
            """), 0, ki=True),
    ]),
    # -- plain graded pairs ------------------------------------------------------------------
    Q("How should a beginner train for a first marathon?", docs=[
        D(EN_MARATHON_GUIDE, 3, long=True),
    ]),
    Q("What is the speed of light?", docs=[
        D(en("""
            The speed of light in a vacuum is exactly 299,792,458 metres per second, about
            300,000 kilometres per second or 186,000 miles per second.
            """), 3),
    ]),
    Q("How do I convert Celsius to Fahrenheit?", docs=[
        D(en("""
            To convert Celsius to Fahrenheit, multiply the temperature in degrees Celsius by 9/5
            and add 32. For example, 20 degrees Celsius is 68 degrees Fahrenheit.
            """), 3),
    ]),
    Q("How do I make cold brew coffee?", docs=[
        D(en("""
            Cold brew coffee is made by steeping coffee grounds in cold water for many hours
            instead of brewing with hot water, which gives a smoother, less acidic taste than
            iced coffee.
            """), 2),
    ]),
    Q("Why is the sky blue?", docs=[
        D(en("""
            Earth's atmosphere is made up mostly of nitrogen and oxygen, with small amounts of
            argon, carbon dioxide and water vapour.
            """), 1),
    ]),
    # -- known irrelevant pairs --------------------------------------------------------------
    Q("What is the boiling point of water?", docs=[
        D(en("""
            Medieval castles were built with thick stone curtain walls, round towers and a
            fortified gatehouse, with a keep at the centre serving as the lord's last refuge.
            """), 0, ki=True),
    ]),
    Q("How do I change a flat tire on my car?", docs=[
        D(en("""
            The violin is a string instrument played with a bow. Its four strings are tuned in
            perfect fifths, and it has the highest pitch in the orchestra's string family.
            """), 0, ki=True),
    ]),
    Q("What are the best exercises for lower back pain?", docs=[
        D(en("""
            Saturn's rings are made mostly of ice particles with a smaller amount of rocky
            debris, and they are less than a kilometre thick in most places.
            """), 0, ki=True),
    ]),
    Q("How do I bake chocolate chip cookies?", docs=[
        D(en("""
            The Peace of Westphalia, signed in 1648, ended the Thirty Years' War and
            established principles of state sovereignty in European diplomacy.
            """), 0, ki=True),
    ]),
    Q("How can I improve my credit score?", docs=[
        D(en("""
            Octopuses have three hearts and blue blood, and they can change the colour and
            texture of their skin to blend into the seabed.
            """), 0, ki=True),
    ]),
    Q("What time zone is New York in?", docs=[
        D(en("""
            Knitting a scarf needs only yarn and a pair of needles: cast on the stitches, work
            rows of garter stitch, then bind off and weave in the ends.
            """), 0, ki=True),
    ]),
    Q("How do I install Python on Windows?", docs=[
        D(en("""
            Honeybees tell their hive mates where flowers are by performing a waggle dance whose
            angle and duration encode direction and distance.
            """), 0, ki=True),
    ]),
    Q("Who painted the Mona Lisa?", docs=[
        D(en("""
            To unclog a slow kitchen drain, pour in half a cup of baking soda followed by a cup
            of vinegar, wait fifteen minutes and flush with hot tap water.
            """), 0, ki=True),
    ]),
    Q("How do I fix a leaking kitchen faucet?", docs=[
        D(EN_BYZANTINE_ARTICLE, 0, ki=True, long=True),
    ]),
]


# ---------------------------------------------------------------------------------------------
# Chinese
# ---------------------------------------------------------------------------------------------

ZH_IMMIGRATION_HALL = zh("""
出入境接待大厅业务指南
本大厅集中受理辖区内中国公民因私出入境证件和外国人签证证件业务，现将主要业务、办理
流程、所需材料、办公时间及窗口设置说明如下，请申请人提前阅读并备齐材料。

一、受理业务。（一）普通护照：首次申领、换发、补发及加注。（二）往来港澳通行证及签注：
首次申领、换发、补发，团队旅游、个人旅游、探亲、商务、逗留、其他等签注。（三）往来台湾
通行证及签注：首次申领、换发、补发，团队旅游、探亲、应邀、商务、学习等签注。（四）外国人
签证业务：签证延期、换发、补发，包括访问、团聚、私人事务等类别。（五）外国人居留许可：
工作类、学习类、团聚类、私人事务类居留许可的首次申请、延期、变更与补发。

二、办理流程。申请人进入大厅后，请先在自助取号机或导服台凭本人有效身份证件取号，按
叫号顺序到对应窗口递交材料。民警审核材料无误后，在照相区或自助设备上采集本人照片、
指纹和签名，随后确认证件邮寄或自取方式并缴纳证件费。内地居民因私出入境证件一般在
受理后七个工作日内制发，外国人居留许可一般在十五个工作日内审批完毕，具体时限以受理
回执为准。领证时请携带受理回执和本人身份证件。

三、所需材料。中国公民申请护照、往来港澳通行证或往来台湾通行证，须提交本人居民身份证
原件，已在出入境管理部门采集过合格照片的无需另行提交照片；未满十六周岁的申请人须由
监护人陪同，并提交户口簿、出生医学证明等监护关系证明。国家工作人员须提交所在单位出具
的同意出境意见。外国人申请签证延期或居留许可，须提交有效护照及签证、外国人签证证件
申请表、近期证件照片、住宿登记证明，以及与申请事由相符的证明材料，如工作许可证、在读
证明、亲属关系证明等。

四、办公时间。周一至周五上午九时至十二时，下午一时三十分至五时；周六上午九时至十二时
仅办理取证及港澳签注自助续签业务；周日及法定节假日不对外办公。每日下班前三十分钟停止
取号，请合理安排时间。

五、窗口说明。一号至六号窗口受理中国公民普通护照及往来港澳通行证业务；七号、八号窗口
受理往来台湾通行证业务；九号至十一号窗口受理外国人签证及居留许可业务；十二号窗口为
老年人、残疾人、现役军人等群体的优先服务窗口；十三号窗口为证件领取窗口；咨询台设在
大厅入口左侧，可现场解答业务问题。自助签注机和自助照相机位于大厅东侧，持电子往来港澳
通行证且符合条件的申请人可直接在自助设备上办理再次签注，无需排队取号。
""")

ZH_ALTITUDE_GUIDE = zh("""
预防去西藏旅游时的高原反应，关键是循序渐进地适应海拔：出发前一两周保证睡眠、避免感冒，
有条件的可以先到海拔两三千米的地方停留一两天再进藏；抵达拉萨后的头两天以休息为主，
少走动、不剧烈运动、不洗热水澡、不饮酒，多喝温水；如需预防用药，可在医生指导下提前服用
乙酰唑胺等药物。做到这几点，大多数健康游客都能平稳度过适应期。

一、出发前的准备。高原反应的发生与个人体质有关，但充分的准备能显著降低风险。出发前
建议做一次体检，患有严重心脑血管疾病、未控制的高血压、严重贫血或呼吸系统疾病的人不宜
贸然前往高海拔地区。出发前一周内尽量避免熬夜和过度劳累，如果出现感冒、发烧，应推迟行程，
因为上呼吸道感染会大大增加发生高原肺水肿的风险。心理上也要放松，过度紧张和焦虑本身就
会加重头痛、失眠等不适。

二、进藏方式的选择。乘坐飞机直接抵达拉萨，海拔在短时间内迅速上升，身体来不及适应，
初到时反应往往更明显。乘坐青藏铁路进藏，列车逐步爬升，车厢内还会补充氧气，适应过程相对
平缓。自驾走川藏线或滇藏线，海拔起伏较大，但每天上升幅度可以自己控制，是适应效果较好
的方式。无论哪种方式，都应遵循"高处活动、低处睡眠"和每天睡眠海拔上升不超过五百米
的原则。

三、抵达后的前两天。初到高原，最重要的是休息。放下行李后不要急着去景点，可以在酒店
安静躺一会儿，慢慢走动。饮食以清淡、易消化、富含碳水化合物的食物为主，不要暴饮暴食，
少吃油腻和产气的食物。每天饮水量要比平时多，高原空气干燥，人体水分流失很快。头两天
尽量不要洗澡，尤其是热水澡，以免受凉感冒或加快耗氧。晚上睡眠时可以把枕头垫高一些，
睡前不要饮用浓茶和咖啡。

四、药物和吸氧。乙酰唑胺是国际上公认的预防急性高原病的药物，一般在上升前一天开始
服用，但它属于处方药，对磺胺类药物过敏的人禁用，必须在医生指导下使用。市面上常见的
红景天等保健品，目前缺乏充分的科学证据证明其预防效果，不能替代适应过程。随身携带便携
氧气瓶可以缓解短时间的胸闷气短，但不宜长时间依赖吸氧，否则反而不利于身体建立适应。

五、识别危险信号。轻度的头痛、心慌、气短、食欲下降、睡眠不好，是常见的高原反应，
通常在两三天内逐渐减轻。如果出现剧烈头痛且服药无效、持续呕吐、走路不稳、意识模糊，或者
静息时也呼吸困难、咳嗽并咳出粉红色泡沫痰，可能是高原脑水肿或高原肺水肿的表现，必须立即
吸氧、尽快下撤到低海拔地区并就医，切不可继续上行或硬扛。

六、行程安排建议。合理的行程应当把拉萨作为适应基地，停留三天左右，再前往纳木错、
珠峰大本营等海拔更高的地方。不要在第一天就安排长途徒步或登山活动。结伴出行，彼此留意
对方的精神状态，并购买包含高原救援的旅游保险。只要准备充分、节奏适当，绝大多数人都能
安全地欣赏到西藏的雪山、湖泊和寺庙。
""")

ZH_GREAT_WALL_ARTICLE = zh("""
长城是中国古代规模最大的军事防御工程，东西绵延上万里，因此又称"万里长城"。根据国家
文物局公布的调查数据，历代长城总长度为二万一千一百九十六点一八千米，分布在北京、河北、
山西、内蒙古、辽宁、陕西、甘肃、宁夏、新疆等十五个省、自治区和直辖市。长城并不是一道
单一的城墙，而是由墙体、关隘、敌台、烽火台、城堡等组成的完整防御体系。

长城的修筑始于春秋战国时期。当时各诸侯国为了互相防御，纷纷在边境修筑城墙，齐国、
楚国、魏国、赵国、燕国、秦国都留下了长城遗迹。秦始皇统一六国后，为了抵御北方匈奴的
侵扰，派大将蒙恬率领大量民夫，将原来秦、赵、燕三国北边的长城连接起来，并加以修缮和
扩展，西起临洮，东至辽东，形成了第一道真正意义上的万里长城。

汉代是修筑长城的又一个高峰。汉武帝时期，为了保障河西走廊和丝绸之路的安全，汉朝在
河西地区修筑了长城和大量烽燧，一直延伸到今天新疆境内。这些用沙土、芦苇和红柳枝层层
夯筑的长城，在干燥的戈壁中保存至今，成为研究汉代边防制度的重要实物。此后北魏、北齐、
北周、隋、金等朝代也都曾不同程度地修筑长城。

我们今天看到的砖石长城大多建于明代。明朝建立后，北方蒙古势力仍然威胁边境，朝廷用了
近两百年时间大规模修筑长城，东起辽宁虎山，西至甘肃嘉峪关，并设立"九边"重镇分段防守。
明长城大量使用烧制的城砖和条石，墙体高大坚固，沿线敌台密布。著名的山海关、居庸关、
八达岭、慕田峪、金山岭、嘉峪关等，都是明长城的重要段落和关口。戚继光在蓟镇任职期间
主持修建的空心敌台，既能驻兵又能储存武器，是明代长城建筑技术的代表。

长城的防御作用依靠完整的军事体系来实现。城墙用于阻挡骑兵的快速冲击，关隘控制交通
要道，敌台供士兵瞭望和作战，烽火台则负责传递军情：白天燃烟、夜间举火，一座座烽火台
接力传递，可以在很短时间内把敌情从边境送达后方。长城沿线还设有大量屯兵的城堡，士兵
平时屯田耕种，战时据守作战。

一九八七年，长城被联合国教科文组织列入《世界遗产名录》。作为中华民族的精神象征，长城
每年吸引着大量国内外游客。然而，由于自然侵蚀和人为破坏，许多段落的长城正面临坍塌和
消失的危险。近年来，国家颁布了《长城保护条例》，开展了长城资源调查和重点段落的抢险
加固工程，并提倡"最小干预"的修缮原则，尽可能保留长城的历史原貌。保护长城，已经成为
全社会的共同责任。
""")

ZH: list[Q] = [
    # -- ladders -----------------------------------------------------------------------------
    Q("如何缓解咖啡因引起的失眠?", ladder="caffeine_insomnia", docs=[
        D(zh("""
            缓解咖啡因引起的失眠，可以借助绿茶中的L-茶氨酸。L-茶氨酸是一种天然氨基酸，能够
            促进大脑产生α脑波，帮助身心放松，并能部分抵消咖啡因带来的紧张和亢奋感。下午
            可以改喝低咖啡因的绿茶，或在医生指导下补充L-茶氨酸（常用剂量为每次一百至二百
            毫克）；同时把当天最后一杯咖啡提前到午后两点以前，睡前一小时远离手机屏幕。
            """), 3),
        D(zh("""
            褪黑素是人体松果体分泌的一种调节昼夜节律的激素。短期、小剂量服用褪黑素（通常
            零点五至三毫克）可以缩短入睡时间，对作息紊乱或偶尔饮用咖啡后难以入睡的人有
            一定帮助，但不宜长期依赖，孕妇和正在服用其他药物的人应先咨询医生。
            """), 2),
        D(zh("""
            咖啡因在成年人体内的半衰期约为三到六小时，也就是说，下午四点喝下的一杯咖啡，
            到晚上十点时体内仍可能残留一半左右的咖啡因。咖啡因通过阻断大脑中的腺苷受体
            让人保持清醒，这就是晚上喝咖啡容易导致失眠的原因。
            """), 1),
    ]),
    Q("特斯拉FSD V12.5版本是否支持无图导航?", ladder="tesla_fsd", docs=[
        D(zh("""
            支持。特斯拉FSD V12.5采用端到端神经网络架构，由一个神经网络直接根据车载摄像头
            的图像输出转向、加速和制动指令，无需高精地图，只依靠视觉感知和普通导航地图
            即可在城市道路和高速公路上实现点到点的辅助驾驶，属于典型的"无图"方案。
            需要注意的是，它仍属于需要驾驶员全程监督的辅助驾驶功能。
            """), 3),
        D(zh("""
            2023年的特斯拉FSD Beta版本采用模块化架构，感知、预测和规划由不同模块分别完成，
            并且需要依赖高精地图提供的车道级信息进行导航，只能在已完成高精度测绘的城市和
            路段使用，尚不支持无图方案。
            """), 1),
    ]),
    Q("红烧肉怎么做才能肥而不腻?", ladder="hongshaorou", docs=[
        D(zh("""
            想让红烧肉肥而不腻，关键在三步：一是选用肥瘦相间的带皮五花肉，切块后冷水下锅
            焯水，去掉血沫和部分油脂；二是先将肉块煸炒出多余的猪油并倒掉，再用冰糖小火炒出
            糖色；三是加入料酒、生抽、老抽、姜片和八角，倒入开水没过肉块，小火慢炖一个小时
            以上，让肥肉里的油脂充分析出，最后大火收汁。这样做出的红烧肉入口即化、不油腻。
            """), 3),
        D(zh("""
            红烧肉是一道经典的中国家常菜，以五花肉为主料，成菜色泽红亮、甜咸适中。各地
            做法不尽相同，例如毛氏红烧肉不放酱油，只用糖色上色；江南一带的本帮红烧肉则
            偏甜，浓油赤酱。炖的时间越长，肉质越软糯。
            """), 2),
        D(zh("""
            五花肉取自猪的腹部，肥瘦相间、层次分明，除了红烧，也常用来做回锅肉、梅菜扣肉
            和烤五花肉，购买时以肉皮光滑、层次清晰、按压有弹性的为佳。
            """), 1),
        D(zh("""
            北京地铁首班车一般在早上五点左右发车，末班车在晚上十一点前后，乘客可以使用
            交通卡、手机二维码或银行卡直接刷卡进站。
            """), 0, ki=True),
    ]),
    Q("Python中如何读取JSON文件?", ladder="python_json", docs=[
        D(zh("""
            在Python中读取JSON文件，可以使用标准库json：先用open()以UTF-8编码打开文件，
            再调用json.load(f)，它会把文件中的JSON内容解析为Python的字典或列表。例如：
            with open("data.json", encoding="utf-8") as f: data = json.load(f)。
            如果文件内容不是合法的JSON，会抛出json.JSONDecodeError。
            """), 3),
        D(zh("""
            json.loads()可以把JSON格式的字符串解析为Python对象，json.dumps()则把Python
            对象序列化为JSON字符串；设置ensure_ascii=False可以让中文在输出中保持可读。
            """), 2),
        D(zh("""
            JSON（JavaScript Object Notation）是一种轻量级的数据交换格式，基于键值对和
            数组表示数据，易于人阅读和编写，被大多数编程语言和网络接口广泛支持。
            """), 1),
        D(zh("""
            大熊猫是中国特有的珍稀动物，主要生活在四川、陕西和甘肃的山区竹林中，每天要
            花十几个小时进食竹子。
            """), 0, ki=True),
    ]),
    Q("去西藏旅游如何预防高原反应?", ladder="altitude_sickness", docs=[
        D(ZH_ALTITUDE_GUIDE, 3, long=True),
        D(zh("""
            高原反应是人体进入海拔三千米以上地区后，因为空气稀薄、氧气不足而出现的一系列
            不适，常见症状有头痛、头晕、心慌、气短、恶心、食欲下降和失眠。多数人在休息
            和逐渐适应后症状会减轻，严重时需要吸氧并转移到低海拔地区。
            """), 2),
        D(zh("""
            布达拉宫位于拉萨市中心的红山上，是西藏最著名的宫殿式建筑群，参观需要提前
            预约门票，每天限制游客人数，宫内禁止拍照。
            """), 1),
    ]),
    Q("高铁票改签有什么规定?", ladder="train_ticket_change", docs=[
        D(zh("""
            高铁票改签的一般规定：在开车前可以通过12306网站、手机客户端或车站窗口办理
            改签，开车前48小时以上可改签预售期内的其他列车；开车前48小时以内，可改签
            票面日期当日及以前的其他列车，也可改签至票面日期之后的列车，但不能再办理退票；
            改签后新票价高于原票价的补收差价，低于原票价的退还差额。具体规则以12306
            最新公告为准。
            """), 3),
        D(zh("""
            火车票退票按开车前的时间收取退票费：开车前8天以上退票不收费，48小时以上、不足
            8天的收取票价5%，24小时以上、不足48小时的收取10%，不足24小时的收取20%。
            """), 2),
        D(zh("""
            中国高速铁路营业里程已超过四万公里，"八纵八横"高铁网覆盖了绝大多数大中城市，
            复兴号动车组的最高运营时速可达三百五十公里。
            """), 1),
    ]),
    # -- plain graded pairs ------------------------------------------------------------------
    Q("光合作用需要哪些条件?", docs=[
        D(zh("""
            光合作用需要光照、叶绿体（叶绿素）、二氧化碳和水。绿色植物在光照条件下，利用
            叶绿体把二氧化碳和水转化为储存能量的有机物（如葡萄糖），并释放出氧气。
            """), 3),
    ]),
    Q("高血压患者饮食要注意什么?", docs=[
        D(zh("""
            高血压是指在未使用降压药物的情况下，非同日三次测量诊室血压，收缩压不低于
            140毫米汞柱和（或）舒张压不低于90毫米汞柱。
            """), 1),
    ]),
    Q("新手如何开始学习吉他?", docs=[
        D(zh("""
            学吉他的新手可以先选一把合适的民谣吉他，学会正确的持琴姿势和调音，然后从C、G、
            Am、Em等基础和弦练起，每天坚持练习二三十分钟，手指磨出茧子后按弦就不疼了。
            """), 3),
    ]),
    Q("如何提高英语听力?", docs=[
        D(zh("""
            英语考试中的听力部分通常包括短对话、长对话和短文理解三种题型，考生需要在
            听录音的同时快速阅读选项。
            """), 1),
    ]),
    # -- known irrelevant pairs --------------------------------------------------------------
    Q("卫生间在哪里", docs=[
        D(ZH_IMMIGRATION_HALL, 0, ki=True, long=True),
    ]),
    Q("今天北京的天气怎么样?", docs=[
        D(zh("""
            《红楼梦》是清代作家曹雪芹创作的章回体长篇小说，以贾、史、王、薛四大家族的兴衰
            为背景，讲述了贾宝玉、林黛玉和薛宝钗之间的爱情与婚姻悲剧。
            """), 0, ki=True),
    ]),
    Q("手机充不进电怎么办?", docs=[
        D(ZH_GREAT_WALL_ARTICLE, 0, ki=True, long=True),
    ]),
    Q("怎样给猫剪指甲?", docs=[
        D(zh("""
            增值税是以商品和劳务在流转过程中产生的增值额为计税依据而征收的一种流转税，
            一般纳税人适用的税率有13%、9%和6%等档次。
            """), 0, ki=True),
    ]),
    Q("推荐几本适合初学者的英语语法书", docs=[
        D(zh("""
            水稻插秧一般在秧苗长到四五片叶子时进行，插秧前要先把稻田灌水、耙平，插秧的
            行距和株距要均匀，以保证通风透光。
            """), 0, ki=True),
    ]),
    Q("信用卡逾期会有什么后果?", docs=[
        D(zh("""
            珠穆朗玛峰是世界最高峰，位于中国与尼泊尔边界，2020年中尼两国共同宣布其最新
            高程为8848.86米。
            """), 0, ki=True),
    ]),
    Q("如何更换汽车机油?", docs=[
        D(zh("""
            太极拳是中国传统武术之一，动作柔和缓慢、连绵不断，讲究以意导气、以柔克刚，
            2020年被列入联合国教科文组织人类非物质文化遗产代表作名录。
            """), 0, ki=True),
    ]),
]


# ---------------------------------------------------------------------------------------------
# Building and validation
# ---------------------------------------------------------------------------------------------

def build(set_id: str, lang: str, queries: list[Q]) -> list[dict]:
    rows = []
    for qi, q in enumerate(queries, start=1):
        query_id = f"{lang}-q{qi:02d}"
        for di, d in enumerate(q.docs, start=1):
            tags = []
            if q.ladder:
                tags.append(f"ladder:{q.ladder}:{di}")
            if d.ki:
                tags.append("known_irrelevant")
            if d.long:
                tags.append("long")
            rows.append({
                "set_id": set_id, "query_id": query_id, "query": q.query,
                "doc_id": f"{query_id}-d{di}", "doc": d.text, "label": d.label,
                "tags": tags, "lang": lang,
            })
    return rows


def validate(rows: list[dict], lang: str) -> None:
    keys = {(r["query_id"], r["doc_id"]) for r in rows}
    assert len(keys) == len(rows), "duplicate (query_id, doc_id)"
    ladders: dict[str, list[dict]] = {}
    for r in rows:
        assert r["query"].strip() and r["doc"].strip(), r["doc_id"]
        assert 0 <= r["label"] <= 3, r["doc_id"]
        if "known_irrelevant" in r["tags"]:
            assert r["label"] == 0, r["doc_id"]
        if "long" in r["tags"]:
            if lang == "en":
                assert len(r["doc"]) > 3500 and len(r["doc"].split()) >= 600, r["doc_id"]
            else:
                assert len(r["doc"]) > 900, r["doc_id"]
        for t in r["tags"]:
            if t.startswith("ladder:"):
                ladders.setdefault(t.split(":")[1], []).append(r)
    for name, members in ladders.items():
        assert len({m["query_id"] for m in members}) == 1, name
        ranked = sorted(members, key=lambda m: int(
            next(t for t in m["tags"] if t.startswith("ladder:")).split(":")[2]))
        ranks = [int(next(t for t in m["tags"] if t.startswith("ladder:")).split(":")[2])
                 for m in ranked]
        assert ranks == list(range(1, len(members) + 1)), name
        labels = [m["label"] for m in ranked]
        assert all(a >= b for a, b in zip(labels, labels[1:], strict=False)), name


def write(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main() -> None:
    for set_id, lang, queries in (("golden_en", "en", EN), ("golden_zh", "zh", ZH)):
        rows = build(set_id, lang, queries)
        validate(rows, lang)
        write(HERE / f"{set_id}.jsonl", rows)
        n_ladders = len({q.ladder for q in queries if q.ladder})
        n_ki = sum("known_irrelevant" in r["tags"] for r in rows)
        n_long = sum("long" in r["tags"] for r in rows)
        print(f"{set_id}: {len(rows)} pairs, {len(queries)} queries, {n_ladders} ladders, "
              f"{n_ki} known_irrelevant, {n_long} long")


if __name__ == "__main__":
    main()
