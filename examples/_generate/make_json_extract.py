"""Generate examples/json-extract: free-text orders -> one JSON object.

Kettle & Crate (fictional) is a wholesale supplier for cafés, bakeries and
offices. Orders reach it as emails, chat messages, web-form notes, texts and
phone notes typed up by staff. Each message orders one catalog product; the
model must pull out seven fields and answer with compact JSON.

Run:  python examples/_generate/make_json_extract.py
Pure stdlib, fixed seed: the output is the same on every run.
"""

import calendar
import datetime
import json
import os
import random

from _common import EXAMPLES, dedupe, pick, typo, write_jsonl

SEED = 7321
OUT = os.path.join(EXAMPLES, "json-extract")
YEAR = 2025
KEYS = [
    "customer_name",
    "company",
    "product",
    "quantity",
    "priority",
    "delivery_date",
    "contact_email",
]

# product name -> the unit people count it in
CATALOG = {
    "House Espresso Blend 1kg": ["bags", "bags", "kilo bags"],
    "Decaf Swiss Water 1kg": ["bags"],
    "Ethiopia Guji 250g": ["bags", "packs"],
    "Colombia Huila 1kg": ["bags"],
    "Cold Brew Concentrate 5L": ["tubs", "containers", "jugs"],
    "Oat Milk Barista 1L": ["cartons", "cartons", "litres"],
    "Almond Milk Barista 1L": ["cartons"],
    "Earl Grey Loose Leaf 500g": ["bags", "packs"],
    "Sencha Green Tea 250g": ["tins", "packs"],
    "Chai Syrup 750ml": ["bottles"],
    "Vanilla Syrup 750ml": ["bottles"],
    "Caramel Syrup 750ml": ["bottles"],
    "Hot Chocolate Powder 2kg": ["tubs", "tins"],
    "Paper Cups 8oz": ["sleeves", "sleeves"],
    "Paper Cups 12oz": ["sleeves", "sleeves"],
    "Sip Lids 12oz": ["sleeves", "packs"],
    "Compostable Straws": ["boxes"],
    "Kraft Napkins": ["packs", "bundles"],
    "Cup Carriers 4-slot": ["packs"],
    "Milk Jug 600ml": ["jugs", "units", ""],
    "Tamper 58mm": ["units", ""],
    "Knock Box": ["units", ""],
    "Grinder Burr Set": [""],
    "Descaler Tablets": ["tubs"],
    "Group Head Cleaner 900g": ["tubs", "bottles"],
    "Barista Towels": ["packs"],
    "Ceramic Cup 6oz": ["cups", "units", ""],
    "Latte Glass 300ml": ["glasses", ""],
    "Portafilter Basket 18g": ["baskets", ""],
    "V60 Filter Papers": ["packs", "boxes"],
    "Batch Brew Filters": ["packs", "boxes"],
    "Sugar Sticks": ["boxes"],
    "Brown Sugar Sachets": ["boxes"],
    "Matcha Powder 100g": ["tins"],
    "Chocolate Croissant Dough": ["trays", "boxes"],
    "Gluten-Free Brownie Slab": ["slabs", "trays"],
}
PRODUCTS = list(CATALOG)
# Equipment is ordered one or two at a time; glassware by the half dozen.
EQUIPMENT = {
    "Milk Jug 600ml",
    "Tamper 58mm",
    "Knock Box",
    "Grinder Burr Set",
    "Portafilter Basket 18g",
}
GLASSWARE = {"Ceramic Cup 6oz", "Latte Glass 300ml"}

FIRST = [
    "Maria",
    "Dev",
    "Siobhan",
    "Tomasz",
    "Aisha",
    "Lars",
    "Keiko",
    "Rohan",
    "Bea",
    "Callum",
    "Nkechi",
    "Pablo",
    "Ines",
    "Hamish",
    "Leila",
    "Oskar",
    "Grace",
    "Yuki",
    "Ahmed",
    "Clara",
    "Dimitri",
    "Fern",
    "Gustavo",
    "Hana",
    "Ivo",
    "Jade",
    "Kwame",
    "Lotte",
    "Milo",
    "Noor",
    "Orla",
    "Pete",
    "Rosa",
    "Stefan",
    "Tara",
    "Umar",
    "Vera",
    "Will",
    "Xin",
    "Zara",
]
LAST = [
    "Alvarez",
    "Patel",
    "Byrne",
    "Nowak",
    "Rahman",
    "Lindqvist",
    "Sato",
    "Mehta",
    "Kowalski",
    "McLeod",
    "Okafor",
    "Ferreira",
    "Dubois",
    "Grant",
    "Haddad",
    "Berg",
    "Osei",
    "Tanaka",
    "Moreau",
    "Novak",
    "Quinn",
    "Reyes",
    "Schmidt",
    "Walsh",
    "Yilmaz",
    "Costa",
    "Evans",
    "Lund",
]
COMPANIES = [
    "Juniper Café",
    "The Daily Grind",
    "Bluebird Bakehouse",
    "Harbour Lights Coffee",
    "Moss & Stone Deli",
    "Little Fox Espresso",
    "Northside Community Centre",
    "Old Mill Tearoom",
    "Brick Lane Roasters",
    "Pepper Tree Catering",
    "Tidal Coffee Co",
    "Saffron Kitchen",
    "Hilltop Hostel",
    "Marigold Bistro",
    "Quayside Books & Coffee",
    "Cobble Street Bakery",
    "Fieldhouse Gym Café",
    "Orchard Primary School",
    "Crumb & Co",
    "Linden Law Office",
    "Velvet Bean",
    "Greenhouse Coworking",
    "Sunny Side Diner",
    "The Copper Kettle",
    "Riverbend Hotel",
    "Atlas Design Studio",
    "Nook Coffee Bar",
]

MONTHS = list(calendar.month_name[1:])
NUM_WORDS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
    15: "fifteen",
    20: "twenty",
    24: "twenty-four",
    30: "thirty",
    40: "forty",
    50: "fifty",
}

# Phrases that set the priority. Each message uses cues of one level only.
PRIORITY_CUES = {
    "urgent": [
        "This is urgent.",
        "URGENT please.",
        "We've completely run out, so this is an emergency.",
        "Need this ASAP please, we're out.",
        "Urgent - we can't serve without it.",
        "Please treat this as urgent, we're completely out.",
        "We're out already, so as fast as humanly possible please.",
        "Emergency order, sorry!",
        "We have none left at all - urgent.",
    ],
    "high": [
        "Fairly high priority, we're running low.",
        "We're running low, so sooner is better.",
        "Please prioritise this one if you can.",
        "High priority please.",
        "It's important we get this soon, stock is low.",
        "Could you bump this up the queue? We're down to the last few.",
        "Not an emergency but we are getting low.",
    ],
    "low": [
        "No rush at all.",
        "Not urgent, whenever suits.",
        "Low priority, just topping up stock.",
        "There's no hurry on this one.",
        "Whenever is convenient for you.",
        "Not in a rush, we still have plenty.",
        "Totally fine to add it to the next regular run, no hurry.",
    ],
    "normal": [],
}
URGENT_DATE_HINTS = ["tomorrow morning", "first thing tomorrow"]

GREETINGS = [
    "Hi,",
    "Hello,",
    "Hi there,",
    "Hey,",
    "Good morning,",
    "Hi Kettle & Crate,",
    "Hello team,",
    "Hiya,",
    "Dear Sir/Madam,",
    "Morning,",
    "Hi all,",
    "Afternoon,",
]
THANKS = [
    "Thanks,",
    "Thanks!",
    "Many thanks,",
    "Cheers,",
    "Best,",
    "Kind regards,",
    "Thank you,",
    "Ta,",
    "Regards,",
    "All the best,",
]
SMALLTALK = [
    "Hope the week's going well.",
    "Hope you're all well.",
    "Busy week here!",
    "The last delivery was perfect, thank you.",
    "Our new opening hours start next month.",
    "We've had a mad rush with the sunny weather.",
    "Sorry for the late message.",
    "Quick one from me.",
    "Trying to get the order in before the weekend.",
]
DISTRACTORS = [
    "Our account number is {acct}.",
    "Our last order (on {past}) arrived fine.",
    "Phone is 0{phone} if you need to reach us.",
    "The driver can use the side door on Mill Lane.",
    "Please put it on our usual monthly invoice.",
    "Same billing address as before.",
    "We were invoiced twice last month but our bookkeeper has sorted that out with you.",
    "Deliveries are best before 11am.",
    "Reference PO-{acct} on the invoice please.",
    "We had {n2} of these delivered back in {past_month}, so you'll have the details on file.",
]


def date_for(rng):
    """A delivery date between 2025-01-06 and 2026-02-27 (year shown when it's 2026)."""
    start = datetime.date(2025, 1, 6)
    while True:
        d = start + datetime.timedelta(days=rng.randrange(0, 418))
        if d.weekday() != 6:  # nobody delivers on Sundays
            return d


def ordinal(n):
    if 11 <= n % 100 <= 13:
        return "%dth" % n
    return "%d%s" % (n, {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th"))


def say_date(rng, d):
    m = MONTHS[d.month - 1]
    wd = d.strftime("%A")
    if rng.random() < 0.12:
        return d.isoformat()
    forms = [
        "%d %s" % (d.day, m),
        "%s %d" % (m, d.day),
        f"{m} {ordinal(d.day)}",
        f"the {ordinal(d.day)} of {m}",
        "%s %d %s" % (wd, d.day, m),
        f"{wd}, {m} {ordinal(d.day)}",
        "%s %d" % (m[:3], d.day),
    ]
    s = pick(rng, forms)
    if d.year != YEAR or rng.random() < 0.2:
        s += " %d" % d.year
    return s


SINGULAR = {"boxes": "box", "glasses": "glass", "litres": "litre", "kilo bags": "kilo bag"}


def say_qty(rng, q, unit):
    """Return (number with unit, same followed by 'of' when a unit is used)."""
    if q in NUM_WORDS and rng.random() < 0.3:
        w = NUM_WORDS[q]
    elif q == 12 and rng.random() < 0.4:
        w = "a dozen"
    elif q == 6 and rng.random() < 0.3:
        w = "half a dozen"
    else:
        w = str(q)
    if unit and rng.random() < 0.7:
        u = unit
        if q == 1:
            u = SINGULAR.get(u, u[:-1] if u.endswith("s") else u)
        return w + " " + u, w + " " + u + " of"
    return w, w


def say_order(rng, qty, product, q):
    """One sentence that says what is ordered."""
    forms = [
        "Could we order {qs} of the {p}?",
        "Please send {qo} {p}.",
        "We need {n} x {p}.",
        "Can you add {qo} {p} to our next delivery?",
        "I'd like to place an order for {p}, quantity {n}.",
        "Order: {p} - {n}",
        "Could I get {qo} {p} please?",
        "We'd like {qs} of {p}.",
        "Please put through {qo} {p} for us.",
        "{p}, {n} please.",
        "Can we have {qo} {p}?",
        "Looking to reorder the {p} - {qs} this time.",
        "I need to order {qo} {p}.",
        "Just {qo} {p} this week.",
        "Would you be able to send {qo} {p}?",
        "We're after {qo} {p}.",
        "Can I order {p} x{n}?",
        "{n} x {p} please.",
    ]
    if q == 1 and product in EQUIPMENT:
        forms += ["We need a new {p}.", "Could you send one {p}?", "Please send us a single {p}."]
    f = pick(rng, forms)
    return f.format(qs=qty[0], qo=qty[1], p=product, n=q)


def say_delivery(rng, ds):
    return pick(
        rng,
        [
            "We need it by {d}.",
            "Delivery on {d} please.",
            "Could it arrive on {d}?",
            "Please deliver {d}.",
            "Ideally delivered {d}.",
            "We're hoping for delivery on {d}.",
            "Our event is on {d} so please deliver that day.",
            "Can you get it to us for {d}?",
            "Delivery date: {d}.",
            "It has to be with us on {d}.",
        ],
    ).format(d=ds)


def make_email(rng, first, last, company):
    f, ln = first.lower(), last.lower()
    slug = company.lower().replace("&", "and").replace("é", "e")
    slug = "".join(ch for ch in slug if ch.isalnum())
    forms = []
    if company:
        forms += [
            f"{f}@{slug}.com",
            f"orders@{slug}.com",
            f"{f}.{ln}@{slug}.co.uk",
            f"hello@{slug}.com",
            f"{f[0] + ln}@{slug}.ie",
        ]
    forms += [
        f"{f}.{ln}@gmail.com",
        "%s%s%d@outlook.com" % (f, ln[0], rng.randrange(1, 99)),
        f"{f}_{ln}@yahoo.com",
        "%s@protonmail.com" % (f + ln),
    ]
    return pick(rng, forms)


def record(rng):
    first, last = pick(rng, FIRST), pick(rng, LAST)
    r = rng.random()
    name = None
    if r < 0.72:
        name = first + " " + last
    elif r < 0.86:
        name = first
    company = pick(rng, COMPANIES) if rng.random() < 0.75 else None
    product = pick(rng, PRODUCTS)
    if product in EQUIPMENT:
        q = pick(rng, [1, 1, 1, 2, 2, 3, 4, 6])
    elif product in GLASSWARE:
        q = pick(rng, [6, 6, 12, 12, 18, 24, 36])
    else:
        q = pick(rng, [1, 2, 2, 3, 4, 4, 5, 6, 6, 8, 10, 10, 12, 12, 15, 20, 24, 30, 40, 50])
    prio = pick(
        rng, ["normal", "normal", "normal", "high", "high", "urgent", "urgent", "low", "low"]
    )
    d = date_for(rng) if rng.random() < (0.25 if prio == "urgent" else 0.6) else None
    email = make_email(rng, first, last, company or "") if rng.random() < 0.6 else None
    return {
        "first": first,
        "last": last,
        "name": name,
        "company": company,
        "product": product,
        "q": q,
        "prio": prio,
        "date": d,
        "email": email,
    }


def fill_distractor(rng, text):
    past = date_for(rng)
    return text.format(
        acct=rng.randrange(1000, 9999),
        past="%d %s" % (past.day, MONTHS[past.month - 1]),
        phone=rng.randrange(10**9, 10**10 - 1),
        n2=rng.choice([3, 5, 7, 9, 16]),
        past_month=pick(rng, MONTHS),
    )


def render(rng, rec):
    name, company, product, q = rec["name"], rec["company"], rec["product"], rec["q"]
    unit = pick(rng, CATALOG[product])
    qty = say_qty(rng, q, unit)
    order = say_order(rng, qty, product, q)
    ds = say_date(rng, rec["date"]) if rec["date"] else None
    delivery = say_delivery(rng, ds) if ds else None
    prio = pick(rng, PRIORITY_CUES[rec["prio"]]) if rec["prio"] != "normal" else None
    email = rec["email"]
    extra = fill_distractor(rng, pick(rng, DISTRACTORS)) if rng.random() < 0.35 else None

    style = rng.random()
    if style < 0.4:
        # Email.
        body = []
        if rng.random() < 0.3:
            body.append(pick(rng, SMALLTALK))
        if name and company and rng.random() < 0.35:
            body.append(
                pick(
                    rng, ["This is {n} from {c}.", "{n} here from {c}.", "It's {n} at {c}."]
                ).format(n=name, c=company)
            )
            signed = False
        else:
            signed = True
        body.append(order)
        opts = [x for x in (delivery, prio, extra) if x]
        rng.shuffle(opts)
        body.extend(opts)
        if email and rng.random() < 0.4:
            body.append(
                pick(
                    rng,
                    [
                        "Please send the confirmation to {e}.",
                        "Reply to {e} if anything's unclear.",
                        "Invoice to {e} please.",
                        "My email is {e}.",
                    ],
                ).format(e=email)
            )
            email_done = True
        else:
            email_done = False
        sig = []
        if signed and name:
            sig.append(name)
        if signed and company:
            sig.append(company)
        if email and not email_done:
            sig.append(email)
        thanks = pick(rng, THANKS)
        if not sig:
            thanks = thanks.rstrip(",") + ("" if thanks.endswith("!") else ".")
        msg = pick(rng, GREETINGS) + "\n\n" + " ".join(body) + "\n\n" + thanks
        if sig:
            msg += "\n" + "\n".join(sig)
        if rng.random() < 0.45:
            subj = pick(
                rng,
                [
                    "Order",
                    "New order",
                    "Order for " + (company or "this week"),
                    "Reorder",
                    product,
                    "Quick order",
                    "Stock top-up",
                    "Delivery request",
                ],
            )
            msg = "Subject: " + subj + "\n\n" + msg
        return msg
    if style < 0.6:
        # Chat / text message: short, casual.
        bits = []
        who = ""
        if name and rng.random() < 0.6:
            who = pick(rng, ["hey it's {n}", "hi, {n} here", "{n} here", "hiya its {n}"]).format(
                n=name
            )
            if company:
                who += pick(rng, [" from {c}", " at {c}", " ({c})"]).format(c=company)
        elif company:
            who = pick(rng, ["hi from {c}", "{c} here", "hey, {c} order"]).format(c=company)
        if who:
            bits.append(who)
        o = order
        if rng.random() < 0.5 and not o.startswith(product):
            o = o[0].lower() + o[1:]
        bits.append(o)
        if delivery:
            bits.append(delivery if rng.random() < 0.5 else delivery[0].lower() + delivery[1:])
        if prio:
            bits.append(prio.lower() if rng.random() < 0.5 else prio)
        if email:
            bits.append(
                pick(rng, ["email {e}", "confirm to {e} pls", "my email's {e}", "({e})"]).format(
                    e=email
                )
            )
        sep = pick(rng, [" ", " - ", ". ", "\n"])
        msg = bits[0]
        for b in bits[1:]:
            if sep == ". " and msg[-1] in ".?!)":
                msg += " " + b
            elif sep == ". ":
                msg += ". " + b
            else:
                msg += sep + b
        if rng.random() < 0.3:
            # Typos only in the filler, never inside the values to extract.
            keep = [x for x in (product, name, company, email, ds) if x]
            for i, x in enumerate(keep):
                msg = msg.replace(x, "\x00%d\x00" % i)
            msg = typo(rng, msg, n=1)
            for i, x in enumerate(keep):
                msg = msg.replace("\x00%d\x00" % i, x)
        return msg
    if style < 0.78:
        # Phone note typed by Kettle & Crate staff.
        parts = [
            pick(
                rng,
                [
                    "Phone order.",
                    "Call logged %02d:%02d." % (rng.randrange(7, 18), rng.randrange(0, 60)),
                    "Voicemail:",
                    "Took a call -",
                    "Phone:",
                ],
            )
        ]
        if name:
            caller = name + (" (" + company + ")" if company else "")
            parts.append(
                pick(rng, ["Caller: {x}.", "{x} rang.", "Spoke to {x}.", "From {x}."]).format(
                    x=caller
                )
            )
        elif company:
            parts.append(
                pick(
                    rng,
                    [
                        "Someone from {c} rang, didn't get a name.",
                        "Caller from {c}.",
                        "{c} called.",
                    ],
                ).format(c=company)
            )
        else:
            parts.append("Caller didn't leave a name.")
        parts.append(
            pick(
                rng, ["Wants {qq} {p}.", "Ordering {qq} {p}.", "Needs {qq} {p}.", "{p} x{n}."]
            ).format(qq=qty[1], p=product, n=q)
        )
        if ds:
            parts.append(
                pick(
                    rng, ["Deliver {d}.", "Delivery {d}.", "Asked for {d}.", "Needs it on {d}."]
                ).format(d=ds)
            )
        if rec["prio"] == "urgent":
            parts.append(
                pick(
                    rng, ["Said it's urgent.", "URGENT - they're out.", "Urgent, they've run out."]
                )
            )
        elif rec["prio"] == "high":
            parts.append(
                pick(
                    rng,
                    ["Running low, wants it soon.", "High priority.", "Asked us to prioritise."],
                )
            )
        elif rec["prio"] == "low":
            parts.append(pick(rng, ["No rush.", "Not urgent.", "Low priority, happy to wait."]))
        if email:
            parts.append(
                pick(
                    rng, ["Confirm by email: {e}.", "Email {e}.", "Send confirmation to {e}."]
                ).format(e=email)
            )
        if extra and rng.random() < 0.5:
            parts.append(extra)
        return " ".join(parts)
    # Web form with a free-text box.
    lines = []
    lines.append("Name: " + (name or ""))
    if company or rng.random() < 0.5:
        lines.append("Business: " + (company or ""))
    lines.append("Email: " + (email or ""))
    free = [order]
    if delivery:
        free.append(delivery)
    if prio:
        free.append(prio)
    if extra:
        free.append(extra)
    lines.append("Message: " + " ".join(free))
    return "\n".join(lines)


# Fully hand-written messages with their answers, for cases templates don't cover well.
HANDWRITTEN = [
    (
        "Hi,\n\nWe've got a wedding on Saturday 21 June and I totally underestimated the cups. Could you send 30 sleeves of Paper Cups 8oz? Has to arrive by the Friday (20 June) at the latest.\n\nThanks so much,\nAoife Brennan\nPepper Tree Catering\naoife@peppertreecatering.ie",
        [
            "Aoife Brennan",
            "Pepper Tree Catering",
            "Paper Cups 8oz",
            30,
            "high",
            "2025-06-20",
            "aoife@peppertreecatering.ie",
        ],
    ),
    (
        "grinder's making a horrible noise, think the burrs are gone. need a Grinder Burr Set asap, we literally can't make coffee. - Jonah, Velvet Bean",
        ["Jonah", "Velvet Bean", "Grinder Burr Set", 1, "urgent", None, None],
    ),
    (
        "Hello, not the decaf this time - we'd like 8 bags of the Colombia Huila 1kg instead. Usual delivery day is fine, no hurry. Ruth (Quayside Books & Coffee)",
        ["Ruth", "Quayside Books & Coffee", "Colombia Huila 1kg", 8, "low", None, None],
    ),
    (
        "Order for Orchard Primary School staff room: Hot Chocolate Powder 2kg, 2 tubs. Please deliver on a weekday before 3pm, ideally Tuesday 2 September when term starts. Contact: office@orchardprimary.org.uk",
        [
            None,
            "Orchard Primary School",
            "Hot Chocolate Powder 2kg",
            2,
            "normal",
            "2025-09-02",
            "office@orchardprimary.org.uk",
        ],
    ),
    (
        "Voicemail: man from Riverbend Hotel, didn't catch the name. Wants 12 Latte Glass 300ml, says a tray got dropped at breakfast and they're short. Soonish - high priority.",
        [None, "Riverbend Hotel", "Latte Glass 300ml", 12, "high", None, None],
    ),
    (
        "Hey! Could you add 4 Vanilla Syrup 750ml to Thursday's drop? It's for The Copper Kettle. Thanks, Meg",
        ["Meg", "The Copper Kettle", "Vanilla Syrup 750ml", 4, "normal", None, None],
    ),
    (
        "Dear Kettle & Crate,\n\nFurther to our phone call, please supply 50 boxes of Sugar Sticks for our new office kitchen, delivery on 2025-11-03. Our previous supplier let us down twice, so reliability matters more than speed here.\n\nRegards,\nPeter Lindqvist\nFacilities, Linden Law Office\np.lindqvist@lindenlaw.co.uk",
        [
            "Peter Lindqvist",
            "Linden Law Office",
            "Sugar Sticks",
            50,
            "normal",
            "2025-11-03",
            "p.lindqvist@lindenlaw.co.uk",
        ],
    ),
    (
        "we're OUT of oat milk!!! 20 cartons of Oat Milk Barista 1L today please, morning rush starts at 7. Nook Coffee Bar",
        [None, "Nook Coffee Bar", "Oat Milk Barista 1L", 20, "urgent", None, None],
    ),
    (
        "Hi there, I run a small pop-up stall at weekend markets. Could I get 3 sleeves of Sip Lids 12oz? No rush, my next market is 12 July. Cheers, Tomás Reyes (tomasreyes@gmail.com)",
        ["Tomás Reyes", None, "Sip Lids 12oz", 3, "low", "2025-07-12", "tomasreyes@gmail.com"],
    ),
    (
        "Subject: Broken tamper\n\nOur Tamper 58mm snapped at the handle this morning (we bought it in March). Can we get a replacement sent? One is enough. Reasonably quick would be good - we're borrowing one from next door.\n\nDev\nLittle Fox Espresso",
        ["Dev", "Little Fox Espresso", "Tamper 58mm", 1, "high", None, None],
    ),
    (
        "Please could you send a dozen Ceramic Cup 6oz to Saffron Kitchen by 14 February? We're doing a Valentine's brunch. Many thanks, Leila Haddad, leila@saffronkitchen.com",
        [
            "Leila Haddad",
            "Saffron Kitchen",
            "Ceramic Cup 6oz",
            12,
            "normal",
            "2025-02-14",
            "leila@saffronkitchen.com",
        ],
    ),
    (
        "Chat transcript - customer: hi can i order cold brew. agent: of course, which size? customer: the Cold Brew Concentrate 5L, 6 of them. delivery 1st of August if possible. name is Hana Sato, Tidal Coffee Co.",
        [
            "Hana Sato",
            "Tidal Coffee Co",
            "Cold Brew Concentrate 5L",
            6,
            "normal",
            "2025-08-01",
            None,
        ],
    ),
    (
        "Hello, we had 10 Batch Brew Filters delivered in January and they've lasted well. Same again please but 15 this time. Not urgent. Fieldhouse Gym Café",
        [None, "Fieldhouse Gym Café", "Batch Brew Filters", 15, "low", None, None],
    ),
    (
        "Good morning - Stefan from Brick Lane Roasters. Our Knock Box cracked. Need one replacement, ideally delivered Monday 6 October. Confirmation to stefan@bricklaneroasters.com please.",
        [
            "Stefan",
            "Brick Lane Roasters",
            "Knock Box",
            1,
            "normal",
            "2025-10-06",
            "stefan@bricklaneroasters.com",
        ],
    ),
    (
        "URGENT: health inspection tomorrow and we're out of Group Head Cleaner 900g. Need 2 tubs first thing tomorrow. Marigold Bistro, ask for Clara.",
        ["Clara", "Marigold Bistro", "Group Head Cleaner 900g", 2, "urgent", None, None],
    ),
    (
        "Can we get 40 packs of Kraft Napkins delivered 3 January 2026? We're restocking after the holidays, so no rush before then. Zara Osei, Greenhouse Coworking, zara.osei@gmail.com",
        [
            "Zara Osei",
            "Greenhouse Coworking",
            "Kraft Napkins",
            40,
            "low",
            "2026-01-03",
            "zara.osei@gmail.com",
        ],
    ),
    (
        "hiya could we have 5 Matcha Powder 100g, we're launching a matcha latte next week and it's kind of important we have stock before then. ta, Yuki @ Crumb & Co",
        ["Yuki", "Crumb & Co", "Matcha Powder 100g", 5, "high", None, None],
    ),
    (
        "Order please: Chocolate Croissant Dough, 6 trays, for Saturday 15 March. Our oven guy says the last batch was brilliant. - Cobble Street Bakery (orders@cobblestreetbakery.com)",
        [
            None,
            "Cobble Street Bakery",
            "Chocolate Croissant Dough",
            6,
            "normal",
            "2025-03-15",
            "orders@cobblestreetbakery.com",
        ],
    ),
    (
        "Phone order. Ivo Novak, no business name, buying for home. One Milk Jug 600ml. Said there's no rush. Email ivo.novak@gmail.com for the invoice.",
        ["Ivo Novak", None, "Milk Jug 600ml", 1, "low", None, "ivo.novak@gmail.com"],
    ),
    (
        "Hello from Hilltop Hostel! The guests go through tea like nothing else. 10 packs of Earl Grey Loose Leaf 500g please. We're down to one bag so sooner rather than later. Will Evans",
        ["Will Evans", "Hilltop Hostel", "Earl Grey Loose Leaf 500g", 10, "high", None, None],
    ),
    (
        "Hi - please cancel the Almond Milk from my last message and send 12 cartons of Oat Milk Barista 1L instead, for delivery 9 May. Thanks, Bea Kowalski, Juniper Café",
        ["Bea Kowalski", "Juniper Café", "Oat Milk Barista 1L", 12, "normal", "2025-05-09", None],
    ),
    (
        "Two tins of Sencha Green Tea 250g for the Atlas Design Studio kitchen, please. Invoice to accounts@atlasdesign.studio. Whenever you're next in the area is fine.",
        [
            None,
            "Atlas Design Studio",
            "Sencha Green Tea 250g",
            2,
            "low",
            None,
            "accounts@atlasdesign.studio",
        ],
    ),
    (
        "Need 24 Portafilter Basket 18g for our barista training course starting 19 January 2026. Please make sure they arrive before that date. Gustavo Ferreira, training lead, gferreira@tidalcoffee.co",
        [
            "Gustavo Ferreira",
            None,
            "Portafilter Basket 18g",
            24,
            "normal",
            "2026-01-19",
            "gferreira@tidalcoffee.co",
        ],
    ),
    (
        "its The Daily Grind. 4 Chai Syrup 750ml pls. we've got 2 left, so high priority",
        [None, "The Daily Grind", "Chai Syrup 750ml", 4, "high", None, None],
    ),
]


def answer(rec):
    return {
        "customer_name": rec["name"],
        "company": rec["company"],
        "product": rec["product"],
        "quantity": rec["q"],
        "priority": rec["prio"],
        "delivery_date": rec["date"].isoformat() if rec["date"] else None,
        "contact_email": rec["email"],
    }


def dump(obj):
    return json.dumps({k: obj[k] for k in KEYS}, ensure_ascii=False, separators=(", ", ": "))


def write_schema():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://example.com/tuneforge/examples/json-extract/order.schema.json",
        "title": "Kettle & Crate order",
        "description": "Fields extracted from one free-text customer order.",
        "type": "object",
        "properties": {
            "customer_name": {
                "type": ["string", "null"],
                "minLength": 1,
                "description": "Name of the person placing the order, as written; null if not given.",
            },
            "company": {
                "type": ["string", "null"],
                "minLength": 1,
                "description": "Business the order is for, as written; null if not given.",
            },
            "product": {
                "type": "string",
                "enum": PRODUCTS,
                "description": "Catalog name of the ordered product.",
            },
            "quantity": {
                "type": "integer",
                "minimum": 1,
                "description": "How many units of the product.",
            },
            "priority": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
            "delivery_date": {
                "type": ["string", "null"],
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                "description": "Requested delivery date as YYYY-MM-DD; null if none was requested.",
            },
            "contact_email": {
                "type": ["string", "null"],
                "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
                "description": "Email address given in the message; null if none.",
            },
        },
        "required": KEYS,
        "additionalProperties": False,
    }
    with open(os.path.join(OUT, "schema.json"), "w", encoding="utf-8") as fh:
        fh.write(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")


SYSTEM_PROMPT = """You read orders sent to Kettle & Crate, a wholesale supplier for cafés, bakeries and offices. Orders arrive as emails, chat messages, web forms, texts and phone notes typed up by our staff. Each message orders one product.

Reply with one JSON object and nothing else, with exactly these keys in this order:

{{"customer_name": ..., "company": ..., "product": ..., "quantity": ..., "priority": ..., "delivery_date": ..., "contact_email": ...}}

- customer_name: the name of the person placing the order, exactly as written (first name only if that is all they give). null if no name is given. Do not guess a name from an email address.
- company: the business the order is for, exactly as written. null if none is given.
- product: the catalog name of the product being ordered (see the list below). If the message mentions another product only as background (a past order, something they do not want), ignore it.
- quantity: how many units, as a whole number ("a dozen" is 12, "half a dozen" is 6). Ignore other numbers such as account, phone or PO numbers.
- priority: "urgent" when they have run out or say urgent, ASAP or emergency; "high" when they are running low or ask us to prioritise; "low" when they say there is no rush; otherwise "normal".
- delivery_date: the requested delivery date as YYYY-MM-DD, or null if they do not ask for a date. When no year is written, the year is {year}. Dates of past orders are not delivery dates.
- contact_email: the email address in the message, or null if there is none.

Use JSON null, not an empty string, for anything missing. Write the JSON on one line.

Example:
Order: "Hi, Sam from Velvet Bean here. Could we get 6 bottles of Caramel Syrup 750ml by 3 June? Running low. sam@velvetbean.com"
Answer: {{"customer_name": "Sam", "company": "Velvet Bean", "product": "Caramel Syrup 750ml", "quantity": 6, "priority": "high", "delivery_date": "{year}-06-03", "contact_email": "sam@velvetbean.com"}}

Catalog:
{catalog}
"""


def write_prompts():
    text = SYSTEM_PROMPT.format(year=YEAR, catalog="\n".join("- " + p for p in PRODUCTS))
    with open(os.path.join(OUT, "system_prompt.txt"), "w", encoding="utf-8") as fh:
        fh.write(text)
    with open(os.path.join(OUT, "short_prompt.txt"), "w", encoding="utf-8") as fh:
        fh.write("Extract the order as JSON.\n")


def main():
    rng = random.Random(SEED)
    write_schema()
    write_prompts()
    rows = []
    for msg, vals in HANDWRITTEN:
        rows.append({"prompt": msg, "completion": dump(dict(zip(KEYS, vals, strict=False)))})
    while len(rows) < 470:
        rec = record(rng)
        msg = render(rng, rec)
        # A field counts only if the message actually shows it.
        for key in ("name", "company", "email"):
            if rec[key] and rec[key] not in msg:
                rec[key] = None
        rows.append({"prompt": msg, "completion": dump(answer(rec))})
    rows = dedupe(rows, key=lambda r: r["prompt"].strip().lower())
    train, evl = rows[:], []
    rng.shuffle(train)
    evl, train = train[:115], train[115:]
    write_jsonl(os.path.join(OUT, "train.jsonl"), train)
    write_jsonl(os.path.join(OUT, "eval.jsonl"), evl)
    print("json-extract: train=%d eval=%d" % (len(train), len(evl)))


if __name__ == "__main__":
    main()
