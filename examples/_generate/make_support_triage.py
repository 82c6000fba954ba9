"""Generate examples/support-triage: customer messages -> one routing label.

Brightdesk (fictional) is a project-management and time-tracking app for small
teams. It also sells two pieces of hardware: the Brightdesk Cube (a six-sided
time-tracking cube you flip on your desk) and the Room Panel (a wall tablet
that shows meeting-room bookings). Hardware orders are what the `shipping`
label is about.

Run:  python examples/_generate/make_support_triage.py
Pure stdlib, fixed seed: the output is the same on every run.
"""

import calendar
import os
import random

from _common import EXAMPLES, casual, dedupe, pick, typo, write_jsonl

SEED = 20240611
OUT = os.path.join(EXAMPLES, "support-triage")
LABELS = ["billing", "technical", "account", "shipping", "feature_request", "cancellation"]

# --------------------------------------------------------------------------
# Entities
# --------------------------------------------------------------------------
E = {
    "plan": [
        "Starter",
        "Team",
        "Business",
        "Team annual",
        "Business annual",
        "Starter monthly",
        "Team monthly",
    ],
    "feature": [
        "timeline view",
        "timesheets",
        "workload view",
        "Kanban board",
        "client portal",
        "recurring tasks",
        "automations",
        "reports tab",
        "docs editor",
        "calendar view",
        "time tracker",
        "task templates",
        "approvals",
        "guest access",
        "forms",
    ],
    "integration": [
        "Slack",
        "Google Calendar",
        "Outlook",
        "Jira",
        "GitHub",
        "Zapier",
        "Microsoft Teams",
        "Google Drive",
        "Dropbox",
        "HubSpot",
    ],
    "hw": [
        "Cube",
        "Brightdesk Cube",
        "Room Panel",
        "Cube Dock",
        "Starter Kit",
        "two Cubes",
        "Room Panel wall mount",
        "Cube 3-pack",
    ],
    "carrier": ["DHL", "UPS", "FedEx", "DPD", "Royal Mail", "Canada Post", "PostNL", "USPS", "GLS"],
    "amount": [
        "$49",
        "$96",
        "$180",
        "$24",
        "$588",
        "$1,140",
        "€72",
        "€239",
        "£38",
        "£456",
        "$12",
        "$360",
        "€1,020",
        "$72.50",
        "£19",
    ],
    "month": [
        *calendar.month_name[1:],
        "this month",
        "last month",
    ],
    "date": [
        "the 3rd",
        "March 14",
        "the 28th",
        "June 2",
        "last Friday",
        "Monday",
        "12 Oct",
        "the 1st",
        "Sept 19",
        "yesterday",
        "the 15th",
        "Nov 7",
    ],
    "n": ["3", "4", "5", "6", "8", "10", "12", "15", "20", "25", "40"],
    "view": ["timeline view", "calendar view", "workload view", "Kanban board", "timesheet view"],
    "chat": ["Microsoft Teams", "Discord", "Google Chat", "Mattermost", "WhatsApp"],
    "cal": ["Google Calendar", "Outlook"],
    "phone": ["iPhone 13", "iPhone 15 Pro", "iPad", "iPhone SE", "iPad mini"],
    "laptop": ["MacBook Air", "Windows laptop", "Surface Pro", "MacBook Pro", "Dell XPS"],
    "code": [
        "Error 502",
        "'Unexpected token < in JSON'",
        "error BD-500",
        "a 401 on /api/session",
        "'Request timed out'",
    ],
    "browser": ["Chrome", "Firefox", "Safari", "Edge", "Brave", "Chrome on a Chromebook"],
    "device": [
        "iPhone 13",
        "Pixel 7",
        "iPad",
        "Galaxy S22",
        "iPhone 15 Pro",
        "a Samsung tablet",
        "MacBook Air",
        "Windows laptop",
        "OnePlus 11",
    ],
    "country": [
        "Ireland",
        "Portugal",
        "Canada",
        "Norway",
        "Australia",
        "Switzerland",
        "Poland",
        "New Zealand",
        "Mexico",
        "Singapore",
    ],
    "tool": ["Trello", "Asana", "ClickUp", "Notion", "Monday", "Basecamp", "Linear", "Wrike"],
    "err": [
        "Error 502",
        "'Something went wrong (code 4031)'",
        "a red 'sync failed' banner",
        "'Request timed out'",
        "'Unexpected token < in JSON'",
        "error BD-500",
        "'Session expired' over and over",
        "a grey spinner that never stops",
    ],
    "name": [
        "Priya",
        "Tom",
        "Lucía",
        "Marcus",
        "Aiko",
        "Declan",
        "Fatima",
        "Jonas",
        "Chloe",
        "Olu",
        "Sven",
        "Maya",
        "Rafael",
        "Hannah",
        "Wei",
        "Grace",
        "Mateo",
        "Ingrid",
        "Sam",
        "Nadia",
        "Kofi",
        "Elena",
        "Ben",
        "Yusuf",
        "Zoë",
        "Arjun",
        "Freya",
        "Luis",
    ],
    "company": [
        "Copperline Studio",
        "Halden Architects",
        "Northfold Media",
        "Pixel & Pine",
        "Bramble Events",
        "Orbit Legal",
        "Sundial Bakery Co",
        "Tidewater Labs",
        "Kestrel Consulting",
        "Little Harbor Design",
        "Quillstone PR",
        "Marlow & Finch",
        "Greyhound Dev",
        "Amber Fox Agency",
        "Lumen Dental Group",
    ],
    "coworker": [
        "Dave",
        "our office manager",
        "Ana",
        "my cofounder",
        "Kenji",
        "our bookkeeper",
        "Rita",
        "one of our contractors",
        "Joe",
        "my business partner",
    ],
}


def order_no(rng):
    return "BD-" + str(rng.randrange(10000, 99999))


def draw(rng):
    """One set of entity values, shared by every sentence of a message."""
    vals = {k: pick(rng, v) for k, v in E.items()}
    vals["order"] = order_no(rng)
    vals["order2"] = "#" + str(rng.randrange(100000, 999999))
    vals["track"] = "".join(pick(rng, "ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(12))
    vals["days"] = str(rng.choice([3, 4, 5, 6, 8, 9, 10, 12, 14, 16]))
    vals["ver"] = "%d.%d.%d" % (rng.randrange(3, 6), rng.randrange(0, 20), rng.randrange(0, 9))
    vals["tickets"] = str(rng.randrange(3000, 9999))
    vals["domain"] = pick(
        rng, ["copperline.studio", "halden.co", "northfold.media", "orbitlegal.com"]
    )
    first = vals["name"].lower().replace("ë", "e").replace("í", "i")
    vals["email"] = (
        first
        + pick(rng, ["", ".m", "_k", "88", ".work"])
        + "@"
        + pick(rng, ["gmail.com", "outlook.com", "copperline.studio", "halden.co", "proton.me"])
    )
    return vals


def fill(rng, text, vals=None):
    return text.format(**(vals or draw(rng)))


# --------------------------------------------------------------------------
# Per-label core requests (the sentence that carries the intent).
# --------------------------------------------------------------------------
# Each core is "request" or "request||specific detail||specific detail": the
# specific details only make sense with that request; generic ones (DETAILS)
# fit any request of the label.
CORES = {
    "billing": [
        "I was charged twice for {month} on the same card.||Both charges are {amount}, a minute apart.||I've attached a screenshot of the bank statement.",
        "there are two identical charges of {amount} on my statement from Brightdesk||The card ends in 4417.",
        "Why did my bill go up? We're on {plan} and I was charged {amount} instead of the usual amount.||Nobody was added to the workspace as far as I know.",
        "Can you send me a proper invoice for the {amount} payment on {date}? I need one with our company address on it.||The address is 8 Quay Road, Galway.",
        "I need to update the credit card on file, the old one expired.||I can't see where to do it on the billing page.",
        "How do I change the payment method to our company Amex?",
        "Please add our VAT number to the invoices, our accountant says the last three are missing it.||The VAT number is IE 6388047V.",
        "I upgraded to {plan} by accident. Could I get a refund for the difference?||I meant to click 'compare plans'.||I switched back within an hour.",
        "We got an email saying the payment failed but the card works everywhere else.||Can you try charging it again?",
        "We're billed for {n} seats but only have 2 active users. Can you fix the seat count on the invoice?",
        "Is there a discount if we switch from monthly to annual billing?",
        "Do you offer nonprofit pricing? We're a registered charity.||Happy to send our charity registration number.",
        "Why was sales tax added to my invoice this time? It never was before.",
        "I was charged {amount} in the middle of the month after adding two users, can you explain the prorated amount?",
        "Can we pay by bank transfer instead of card? Our finance dept doesn't allow cards.",
        "Our procurement team needs to pay against a purchase order. Is that possible for the {plan} plan?",
        "My trial was supposed to last 14 days but I got charged {amount} on day 10.",
        "Where can I download past receipts? I need all of them for the tax year.",
        "The receipt shows the wrong company name, it should say {company}.",
        "I was promised 20% off for the first year but the full price was taken.||The offer was in the email from your sales rep in {month}.",
        "I was charged in USD but we're in Europe, can you bill us in euros?",
        "Could you refund the last payment of {amount}? We hadn't used the account at all that month.",
        "Got a charge for {amount} that I don't recognise, reference BRTDSK*{tickets}.||Nobody in our office remembers signing up for anything.",
        "Please change the billing email so invoices go to our accounts inbox instead of me.||The new address is accounts@{domain}.",
        "The coupon code from your webinar didn't apply at checkout, I paid full price.||The code was SPRING25.",
        "Our card was declined and now there's a banner saying the account will be restricted. How do I pay the overdue invoice?",
        "How much will it cost to go from {plan} to Business for {n} people?",
        "You charged my personal card instead of the company one I added last week.||It's a company expense so I need this sorted for my expense report.",
        "Can I get one invoice for both of our workspaces instead of two separate charges?",
        "I'm confused by the invoice, it lists {n} seats at two different prices.||Invoice number is INV-{tickets}.",
        "Our annual renewal was {amount} higher than last year, was there a price change?",
        "We downgraded to Starter last month but still got billed the Team price.",
        "The invoice PDF is missing our PO number, finance won't pay it without one.||The PO is PO-{tickets}.",
        "Requesting a refund for the duplicate charge on {date}.",
        "Is the price per user or per workspace? I'm trying to budget for next quarter.",
        "I need a W-9 for Brightdesk so our accountant can process payment.",
    ],
    "technical": [
        "The {feature} won't load, it just shows {err}.||I've tried logging out, clearing the cache and using {browser}, same thing.",
        "{integration} stopped syncing with Brightdesk on {date}. Tasks created there don't show up anymore.||I disconnected and reconnected it, no change.",
        "My Cube won't pair with the desktop app. Bluetooth sees it but the app keeps saying 'no device found'.||I'm on a {laptop}.",
        "The iOS app crashes every time I open a project with attachments. I'm on an {phone}.||Reinstalling didn't help.",
        "Exporting timesheets to CSV gives me an empty file.||Just the header row, no data.",
        "I'm not getting any email notifications when tasks are assigned to me, even though they're switched on.||Not in spam either.",
        "Automations stopped firing. The rule that moves cards to Done when the checklist is complete does nothing.",
        "the timesheet totals are wrong, it adds up to 41 hours but the entries only add to 37",
        "Uploading attachments fails at 99% every time, files are under 10MB.||Tried PDFs and JPGs.",
        "Our Room Panel shows 'offline' even though the wifi is fine and other devices work.||Unplugged it for a minute and plugged back in, still offline.",
        "The API is returning 500 errors on the /tasks endpoint since this morning.||Other endpoints seem fine.",
        "Brightdesk has become really slow, boards take 20+ seconds to load in {browser}.||Our internet is fast, other sites are fine.",
        "The Cube registers flips but the time entries land on the wrong project.",
        "Google sign-in works but then the dashboard is a blank white page.||Console shows {code}.",
        "Webhooks aren't being delivered to our endpoint anymore, nothing in the logs on our side.",
        "When I drag a task on the {view} it snaps back to where it was.",
        "The desktop app (version {ver}) freezes on startup on my {laptop}.",
        "The calendar sync duplicates every event, I now have 4 copies of each meeting.",
        "Time tracker keeps running after I stop it, found 14 hours logged overnight.",
        "The PDF report cuts off the last column on every page.",
        "Search doesn't find tasks I know exist, even when I type the exact title.",
        "I keep getting {code} when I try to save a task template.",
        "Comments with @mentions don't notify the person mentioned.",
        "The Room Panel isn't picking up new bookings from {cal}, it still shows last week's schedule.",
        "Recurring tasks are being created twice every Monday.",
        "Since the update to {ver} the Android app logs me out every few minutes.",
        "The Zapier trigger 'new task' fires for old tasks too, so we get dozens of duplicates.",
        "The client portal shows a 404 to our clients when they click the shared link.",
        "Images in the docs editor appear broken after I paste them.",
        "The sidebar icons disappeared after today's update and the menu is unusable in {browser}.",
        "The Cube battery dies in a day even though it's supposed to last months.||It's fully charged each time.",
        "Importing our CSV from {tool} fails at row 212 with no explanation.",
        "Dates on the {view} are off by one day for everyone in our Sydney office.",
        "Reports tab keeps spinning and never shows the chart.",
        "Two-way sync with {integration} overwrote our task descriptions with blank text.",
        "The workload view shows people at 0 hours even though they have tasks assigned.",
    ],
    "account": [
        "I can't log in, it says my password is wrong but I just reset it.||I've tried on two browsers already.",
        "The password reset email never arrives. Checked spam too.||My login email is {email}.",
        "I lost my phone and can't get past two-factor authentication. How do I get back into my account?||Please let me know what you need to verify that it's me.",
        "How do I change the email I log in with? I'm moving from my gmail to my work address.||I'd rather not create a new account and lose my history.",
        "Please remove {coworker} from our workspace, they left the company.",
        "{coworker} is leaving and they're the workspace owner. How do we transfer ownership to me?||Their last day is Friday.",
        "How do I make {coworker} an admin? They need to manage projects.",
        "My account is locked after too many login attempts.||My login email is {email}.",
        "I accidentally created two accounts with the same email domain, can you merge them?",
        "When I sign in with Google it puts me in an empty workspace instead of our team's.",
        "The invite link I sent to a new hire says it has expired.",
        "Our guest user can't see the project we shared with them.",
        "Can you change the name on my profile? It still shows my maiden name.",
        "How do I restrict contractors so they only see one project?",
        "I need to set up SSO for our team, where do I start?||We use Okta.",
        "I'm getting 'this email is already in use' when I try to sign up, but I don't remember making an account.",
        "Can you remove my old work email from my profile? I don't have access to it anymore.",
        "Someone logged into my account from another country, I got a security alert. Please help me secure it.||I've already changed my password.",
        "How do I switch between my two workspaces without logging out each time?",
        "I was the admin but now I'm showing as a regular member and can't change settings.||I'm the only admin so nobody else can fix it.",
        "Can I rename our workspace? We rebranded to {company}.",
        "How do I reset 2FA for {coworker}? They got a new phone.",
        "Please deactivate the account of a former employee, their login still works.",
        "My username shows as an email address to everyone, how do I set a display name?",
        "I can't accept the invitation to join {company}'s workspace, it says I'm already a member of another one.",
        "The 'forgot password' link takes me back to the login page in a loop.",
        "I need to give our new bookkeeper read-only access to reports, is there a role for that?",
        "I changed my email and now I can't log in with either address.",
        "Our IT team wants to enforce two-factor for everybody. Where is that setting?",
        "I want to leave a workspace I was invited to years ago.",
        "Can you tell me which email address my account is registered under? I've tried three.",
        "Is there a way to see who has admin rights in our workspace?",
    ],
    "shipping": [
        "Where is my order {order}? It's been {days} days and tracking hasn't updated.||Tracking number is {track}.",
        "My {hw} was supposed to arrive on {date} and it's still not here.||Order number is {order}.||It's going with {carrier}.",
        "The box for order {order} arrived crushed and the {hw} inside is cracked.||I've attached photos of the box.",
        "I ordered a Room Panel but received a Cube Dock instead.||Order {order}.",
        "Order {order} only had one Cube in it, I paid for the 3-pack.",
        "Can I change the delivery address on order {order}? It hasn't shipped yet I think.",
        "{carrier} wants me to pay import duty before they'll deliver my {hw}. Is that expected?||Nobody mentioned this at checkout.",
        "Tracking says delivered but there's nothing at my door or with the neighbours.||Order {order}, sent with {carrier}.",
        "Do you ship the Cube to {country}? And how long does it take?",
        "I need to return the {hw}, it's not what we need. How do I get a return label?||It's unopened.",
        "Can you upgrade my order to express shipping? We need the Room Panels before our office opening on {date}.",
        "The tracking number you sent ({track}) isn't recognised on the {carrier} website.",
        "My package has been stuck in customs in {country} for a week.||Tracking number is {track}.",
        "I haven't received a shipping confirmation for order {order} placed on {date}.",
        "The {hw} was left outside in the rain and the box is soaked. Can you send a new one?",
        "Could you split my order so the Cubes ship now and the Room Panel ships when it's back in stock?",
        "The courier keeps attempting delivery while the office is closed. Can I pick it up somewhere?||It's with {carrier}.",
        "I got two shipping notifications for the same order, am I going to receive two {hw}?",
        "The wall mount was missing from the Room Panel box.||Order {order}.",
        "When will the Room Panel be back in stock and shipping again?",
        "I moved offices. Please send order {order} to our new address at 14 Harbour Street instead.",
        "The returned {hw} was delivered back to you on {date}, can you confirm you received it?",
        "The delivery estimate on order {order} jumped from {date} to three weeks out, why?",
        "Can the {hw} be shipped to a PO box?",
        "{carrier} says the address is incomplete for order {order}, what do I need to give them?",
        "My Starter Kit arrived without the USB-C cable.",
        "I'd like to send back a faulty Cube and get a replacement shipped, what's the process?",
        "Is it possible to ship a {hw} to a different country than the billing address?",
        "Order {order} was marked as shipped {days} days ago but the label still says 'awaiting pickup'.",
        "Please hold my order until after {date}, nobody will be in the office to sign for it.",
    ],
    "feature_request": [
        "Would love a dark mode. My eyes are tired by 5pm.",
        "Any plans to add dependencies between tasks on the {view}? It's the one thing we miss from {tool}.",
        "Please add a {chat} integration that lets us create tasks from messages.",
        "It would be really helpful to have custom fields on tasks, like budget or client code.",
        "Can you add bulk editing? Changing the due date on 40 tasks one by one is painful.",
        "Feature idea: let the mobile app work offline and sync when I'm back on signal.||I do site visits with no coverage.",
        "Could the app be translated into German? Half our team would appreciate it.",
        "Suggestion for the next Cube: a USB-C port instead of micro-USB.",
        "I wish recurring tasks could repeat on specific weekdays, like every Tuesday and Thursday.",
        "We'd pay extra for a Gantt chart with a critical path.",
        "Keyboard shortcuts for moving cards between columns would save me a lot of clicks.",
        "Please let us set different hourly rates per project in timesheets.",
        "Is there any chance you'll support importing directly from {tool}? CSV export and import loses comments.",
        "It'd be great if the Room Panel could show the next three meetings, not just the current one.",
        "Request: let guests comment without being able to see the whole project.",
        "Can you add an API endpoint for time entries? Right now we can only read tasks.",
        "I'd like to be able to pin important projects to the top of the sidebar.",
        "Please add a way to archive a whole board at once instead of each task.",
        "A weekly email summary of what my team finished would be amazing.",
        "Could you let us choose which day the week starts on? Our week starts on Sunday.",
        "It would help a lot if the {view} could be filtered by tag.",
        "Please consider a one-off licence for freelancers instead of a subscription.",
        "Would be nice if the Cube could vibrate when I've been on one task for two hours.",
        "An Apple Watch app for starting and stopping timers would be perfect.",
        "Could the client portal have our own logo and colours?",
        "Please add two-level subtasks. One level isn't enough for our launches.",
        "Would love to see a Linux version of the desktop app.",
        "Let us export the {view} as an image so I can drop it into slide decks.",
        "Could you add an option to hide weekends on the {view}?",
        "Suggestion: a 'focus mode' that hides everything except today's tasks.",
        "It would be great if automations could post to a {chat} channel.",
        "Please add a read receipt or 'seen' marker on comments.",
    ],
    "cancellation": [
        "Please cancel our subscription at the end of the current billing period.",
        "I'd like to cancel my Brightdesk account. We're moving to {tool}.",
        "We need to close our workspace, the company is shutting down at the end of {month}.",
        "Please make sure my trial doesn't turn into a paid plan, I don't want to continue.",
        "Don't renew our annual plan this year, we'll let it run out.",
        "We have two workspaces and want to cancel the one called '{company} Old'.",
        "Can you confirm my cancellation went through? I clicked cancel but didn't get an email.",
        "I want to cancel effective immediately, not at the end of the term.",
        "Budget cuts mean we have to cancel Brightdesk, please stop all future payments.",
        "how do i cancel my plan",
        "Our team has decided not to continue with Brightdesk. Please cancel the {plan} subscription.",
        "Please end my subscription. I'm retiring and won't need it anymore.",
        "Cancel my account please, I only signed up to test it for a client.",
        "We're consolidating tools and Brightdesk is one we're dropping. What's the process to cancel?",
        "I want to cancel before the renewal on {date}. Where's the button?",
        "Turn off auto-renew on our subscription, we're not continuing next year.",
        "Please close the workspace and cancel billing, the project it was for is finished.",
        "I'm done with Brightdesk. Cancel it.",
        "Could you cancel the subscription for {company}? I'm the owner.",
        "My freelance business is winding down so I need to cancel the Starter plan.",
        "We've decided to go back to spreadsheets, please cancel our subscription.",
        "I tried to cancel from the billing page but it only offers to downgrade. I want to fully cancel.",
        "Please cancel and don't charge us again. We've already moved our projects out.",
        "Cancel the Team plan for our workspace as of {date}, please.",
        "Our nonprofit lost its grant and we can't keep paying, so we need to cancel.",
        "Is it possible to cancel mid-year? We don't need Brightdesk after this quarter.",
        "I signed up by mistake. Please cancel before I'm charged.",
        "We're merging with another firm that uses {tool}, so we'll be cancelling Brightdesk next month.",
    ],
}

# Generic details that fit any request of the label.
DETAILS = {
    "billing": [
        "We're on the {plan} plan with {n} seats.",
        "Our finance team closes the books on Friday so a quick answer would help.",
        "I'm the billing contact for our workspace.",
        "I looked through the billing page and the help articles first.",
        "The account is under {company}.",
        "Happy to jump on a call if that's easier.",
    ],
    "technical": [
        "It happens for everyone on our team, not just me.",
        "It worked fine last week.",
        "Screenshot attached.",
        "We're on the {plan} plan if that matters.",
        "It started after the update on {date}.",
        "This is holding up our weekly client report.",
        "Let me know if you need logs or anything else from me.",
        "Tried turning it off and on again, no change.",
    ],
    "account": [
        "Our workspace is called {company}.",
        "I'm the workspace admin.",
        "This is a bit urgent, I need to get work done today.",
        "I've looked through the settings and can't find it.",
        "Happy to verify my identity however you need.",
    ],
    "shipping": [
        "We need it for a client demo next week.",
        "Nobody at the front desk has seen anything.",
        "The shipping page said 3-5 business days.",
        "It's for our office, so weekday deliveries are best.",
        "Please let me know what you can do.",
    ],
    "feature_request": [
        "Happy to jump on a call to explain our use case.",
        "I know a few other people on our team would vote for this too.",
        "It's not urgent, just something that would make daily use nicer.",
        "{tool} has something like this and it's the main thing people ask me about.",
        "We're on {plan} and would happily pay a bit more for it.",
        "Otherwise we love the app.",
        "Is there a public roadmap where I can upvote it?",
    ],
    "cancellation": [
        "Thanks for everything, the app was good, it just isn't right for us now.",
        "Please don't send me retention offers, the decision is final.",
        "We've already exported everything we need.",
        "The workspace is {company}.",
        "I'm the account owner.",
        "Let me know if you need anything else from me to process it.",
    ],
}

SUBJECTS = {
    "billing": [
        "Billing question",
        "Question about billing",
        "Billing",
        "Payment query",
        "Our account billing",
    ],
    "technical": [
        "Bug",
        "Something's not working",
        "Problem",
        "Issue with Brightdesk",
        "Help needed",
        "Bug report",
    ],
    "account": [
        "Account access",
        "Account question",
        "User management",
        "Help with my account",
        "Access issue",
    ],
    "shipping": [
        "My hardware order",
        "Delivery question",
        "Order query",
        "Hardware order",
        "Shipping",
    ],
    "feature_request": ["Suggestion", "Feature request", "Idea", "Product feedback", "Wishlist"],
    "cancellation": [
        "Cancellation",
        "Cancel subscription",
        "Cancelling",
        "Ending our plan",
        "Please cancel",
    ],
}
OPENERS = [
    "Hi,",
    "Hello,",
    "Hi there,",
    "Hey,",
    "Hey team,",
    "Good morning,",
    "Hi Brightdesk,",
    "Hello support,",
    "Hiya,",
    "Dear Brightdesk team,",
    "Hi folks,",
    "Afternoon,",
    "Hi, hope you're well.",
    "Hello, quick one.",
    "Hi all,",
    "Hey there,",
    "Good afternoon,",
    "To whom it may concern,",
    "Hi again,",
    "Morning!",
]
CONTEXT = [
    "We're a team of {n} using Brightdesk for client projects.",
    "I run a small design studio and we've been on Brightdesk for about two years.",
    "I'm the office manager at {company}.",
    "I manage the Brightdesk workspace for {company}.",
    "I'm a freelancer and mostly use the time tracking.",
    "Writing on behalf of {company}.",
    "Long-time user here.",
    "We only started using Brightdesk last month.",
    "I'm the admin for our workspace.",
    "Sorry if this has been asked before, I couldn't find it in the help centre.",
    "I tried the chat but nobody was online.",
    "This is my second message about this.",
    "We use Brightdesk for pretty much everything in the agency.",
    "Our team is spread across three time zones.",
    "Apologies for the long email.",
]
CLOSERS = [
    "Thanks!",
    "Thanks in advance.",
    "Cheers.",
    "Appreciate the help.",
    "Thank you.",
    "Let me know.",
    "Thanks a lot.",
    "Many thanks,",
    "Any help appreciated.",
    "Looking forward to hearing from you.",
    "Thx",
    "ty",
    "Best,",
    "Kind regards,",
    "Speak soon.",
    "Thanks so much!",
]


# --------------------------------------------------------------------------
# Fully hand-written messages (each used once)
# --------------------------------------------------------------------------
HANDWRITTEN = {
    "billing": [
        "hi, i think we got billed for the whole year when we picked monthly?? $1,140 just came out of our account. can someone check",
        "Hello. Our accountant flagged that your March invoice has our old address in Leeds. We moved to Manchester in January and updated it in settings. Could you reissue the invoice with the new address? Thanks, Joanna",
        "Quick billing question - if I add a contractor for just two weeks, do I pay for the full month or only the days they're active?",
        "Card ending 0921 got declined because the bank flagged it as fraud. I've cleared it with them now, can you retry the payment so we don't lose access?",
        "I'm the treasurer for a small community theatre. We were told there's a charity discount. We've been paying full price since September. Can that be applied and the difference credited?",
        "Need a copy of every invoice from 2023 in one go for the auditors. Downloading one at a time from the billing page is going to take forever.",
        "why is there a £2.40 foreign transaction fee on my bank statement? i'm in the UK and your website showed pounds",
        "Good afternoon. We paid invoice INV-7731 by bank transfer on the 4th but the account still shows it as unpaid and we keep getting reminders. Remittance advice attached.",
        "So I paid for Business annual in June, then two weeks later you emailed to say there's a summer promo at 30% off. Any chance of getting that applied retroactively?",
        "Hey, can invoices be made out to our parent company (Orbit Holdings Ltd) instead of Orbit Legal? Same workspace, just a different legal entity for payment.",
        "we were charged for 12 users. we have 7. five of them were deactivated on the 1st. please refund the extra seats",
        "Is the price on your pricing page including VAT or not? I'm trying to get a quote approved.",
    ],
    "technical": [
        "Every time I click 'Start timer' on a task the page jumps to the top and the timer doesn't start. Chrome, Windows 11. Started this morning.",
        "our slack integration posts every update 3 times. the channel is unusable. we haven't changed anything on our end",
        "Hello, the Cube lights up when I flip it but nothing gets logged. The app says 'Cube connected' in the corner. I've re-paired it twice and replaced the battery. Any ideas?",
        "Hi - when a guest opens the client portal on Safari they get stuck on a loading screen. Works in Chrome. Several clients have complained this week.",
        "The 'Export to PDF' button on reports produces a file that won't open. Adobe says it's damaged.",
        "Our Room Panel rebooted itself this morning and now it only shows the setup screen. It won't accept the room code.",
        "API question/bug: GET /v2/projects?page=2 returns the same results as page 1. Pagination seems broken.",
        "Since yesterday, all task due dates in my mobile app show 1970-01-01. Desktop is fine. Android 14.",
        "hey so the drag and drop on the board doesnt work on my ipad at all, you press and hold and nothing happens",
        "I'm getting logged into the wrong timezone in the timesheet view - everything's 5 hours off. My profile is set to London. It's messing up our payroll export.",
        "The search bar returns results from archived projects even though 'include archived' is unchecked.",
        "Browser tab crashes (Aw, Snap!) whenever I open the workload view for our largest project, about 900 tasks.",
    ],
    "account": [
        "Hi, my colleague set up our workspace with his personal email and he's now left the company and isn't replying. None of us are admins. How do we get control of the workspace?",
        "i keep getting a 2FA code by SMS to a number I don't have anymore. can I switch it to an authenticator app?",
        "Hello, I got married and changed my surname. I'd like my login email changed from anna.berg@ to anna.lind@ at the same domain. Can you do it without losing my tasks?",
        "We hired 6 people this week. Is there a way to invite them all at once instead of typing each email?",
        "Can a user be a member of two workspaces with the same login? I freelance for two agencies.",
        "I need to remove admin rights from myself and give them to our new operations lead, but I don't see the option in Members.",
        "I think someone guessed my password - tasks were deleted that I didn't delete. Can you check recent logins on my account and log out all other sessions?",
        "Where do I find the list of everyone in our workspace and when they last logged in? I want to clean up inactive users.",
        "Our new intern's invite went to spam and now the link is dead. Can you resend it or tell me how?",
        "My account says 'deactivated by admin' but I am the admin?",
    ],
    "shipping": [
        "Hello - ordered 2 Room Panels on the 3rd for our new office. The confirmation email said they'd ship in 2 days, it's now the 12th and still 'processing'. We open on Monday. What's going on?",
        "Received my Cube today, thank you, but the box had clearly been opened and the charging cable is missing. Order BD-58120.",
        "the DHL guy left my package at a pickup point 40 minutes away without even trying to deliver. can you ask them to redeliver",
        "Hi, I'd like to send the Cube Dock back as it doesn't fit my desk setup. Still in the original packaging. What's the return address?",
        "We're in Switzerland. Will the Room Panel arrive with a Swiss plug or do I need an adapter? And how long does shipping take roughly?",
        "Tracking for BD-30317 shows it went back to your warehouse as 'undeliverable'. The address is correct as far as I can see. Can you ship it again?",
        "My order confirmation shows my old apartment. I moved last week! Order BD-71554, please update to 22 Linden Ave, Apt 4B before it ships.",
        "Ordered a Cube 3-pack as a gift for my team, only two arrived. The packing slip says 3.",
        "Just wondering if you ship to Iceland, couldn't select it at checkout.",
    ],
    "feature_request": [
        "Love Brightdesk. One thing: I'd really like to be able to set a task to start automatically when the previous one is done. We do this manually right now for every production job.",
        "It would make my life so much easier if timesheets could be approved by a manager before they're locked. Right now anyone can edit past weeks.",
        "Can there be a setting to make the default view List instead of Board? Every time I open a project I have to switch.",
        "hello! i'm colour blind and the red/green status labels are hard for me to tell apart. could you add patterns or let us choose our own colours?",
        "We use the Room Panel in four rooms. It would be great if it could show a QR code people scan to book the room from their phone.",
        "Small idea: when you duplicate a project, also copy the automations. At the moment they're lost and we rebuild them each time.",
        "I'd love an integration with Toggl or at least a way to import hours from it.",
        "Would be nice to have a 'my week' page that pulls tasks from every project I'm on, sorted by due date.",
        "Could you support right-to-left languages? We have team members who write in Arabic and comments look broken.",
        "Think it'd be really useful if the Cube could be assigned to different projects depending on the day of the week.",
    ],
    "cancellation": [
        "Hi, we've been with you since 2020 and it's been great, but the agency is merging into a bigger group with its own tools. Please cancel our Business plan when the current term ends in April.",
        "please cancel. thanks.",
        "I'm writing to cancel our subscription. The owner of the workspace, Kevin, passed away last month and I'm helping close down his business. Please let me know what you need from me.",
        "Our trial ends tomorrow and we've decided not to go ahead. Can you make sure nothing gets charged?",
        "We'd like to cancel the second workspace we set up for the Berlin office - the office has closed. Keep the main one.",
        "Please cancel the annual auto-renewal. We'll decide closer to the date whether to sign up again but for now we don't want it to renew automatically.",
        "I'm a solo user and I just don't use it enough to justify the cost. Please cancel my Starter plan from next month.",
        "How do I cancel? I've looked in settings and billing and can't find it anywhere.",
        "Please cancel our account. We found it too complex for a team of three.",
    ],
}

# Harder cases: two topics are mentioned but the main request is still clear.
HARD = [
    (
        "billing",
        "The Slack integration was down most of last week which was annoying, but my actual question is about the charge: why were we billed {amount} when our plan is $49 a month?",
    ),
    (
        "billing",
        "I'm thinking about whether we even keep Brightdesk next year, but for now I just need last month's invoice reissued with our VAT number on it.",
    ),
    (
        "billing",
        "Love the new timeline view! Unrelated - we got charged for the Cube subscription add-on that we never signed up for. Please refund it.",
    ),
    (
        "billing",
        "Our Cubes arrived fine, thanks. But the hardware invoice and the software invoice were both charged to my personal card. Can you move the software billing to the company card going forward?",
    ),
    (
        "billing",
        "I was locked out for a day (sorted now) and during that time my card was charged twice. Can you refund the duplicate?",
    ),
    (
        "billing",
        "We're not cancelling, we just want to switch from monthly to annual billing. How does the credit for this month work?",
    ),
    (
        "billing",
        "Not a bug report, I know the app is fine - it's the billing page. It says we owe {amount} but we paid on {date}. Can you check the payment on your end?",
    ),
    (
        "billing",
        "Removed two users yesterday (done that part myself, no help needed). What I need is the seat change reflected on the upcoming invoice.",
    ),
    (
        "billing",
        "Before I recommend Brightdesk to our other office I need to understand pricing: if they join our workspace, are they billed on our invoice or separately?",
    ),
    (
        "billing",
        "Cancelled the extra Room Panel order before it shipped, that part's fine, but the refund still hasn't come back to my card after 10 days.",
    ),
    (
        "technical",
        "I was going to cancel because of this, honestly, but let's try once more: the Outlook sync creates duplicate events every single day. Can you fix it?",
    ),
    (
        "technical",
        "We just upgraded to Business (billing went through fine) and since then the reports tab shows {code}.",
    ),
    (
        "technical",
        "The Cube arrived quickly, thanks for that. Problem is it disconnects from the app every ten minutes and I have to re-pair it.",
    ),
    (
        "technical",
        "A dark mode would be nice someday, but right now the bigger problem is that the whole app is unreadable because the text colour changed to light grey on white after the update.",
    ),
    (
        "technical",
        "I can log in fine, that's not the issue. After login the projects list is empty on mobile, but on desktop everything is there.",
    ),
    (
        "technical",
        "Our invoice is fine, but the timesheet export that finance uses to bill clients has the wrong totals since Tuesday. Rows are duplicated.",
    ),
    (
        "technical",
        "I don't need a refund or anything, I just need the Zapier integration working again. It's been failing with 'auth error' since {date}.",
    ),
    (
        "technical",
        "New Room Panel arrived today (great packaging btw). Setting it up, it gets stuck on 'Connecting to calendar' forever. Our calendar is Google Workspace.",
    ),
    (
        "technical",
        "Admin here. Permissions are set correctly, I've double-checked, but the automation that assigns new tasks to {coworker} throws an error every time.",
    ),
    (
        "technical",
        "If this isn't fixed we'll have to look at {tool}, but I'd rather stay. The Android app has been crashing on launch since version {ver}.",
    ),
    (
        "account",
        "Trying to update our card but I can't even log in - the reset email never arrives. Please help me get back into the account first.",
    ),
    (
        "account",
        "We might order a few more Cubes later, but today I need to add four new team members and the invite button is greyed out for me. Am I not an admin?",
    ),
    (
        "account",
        "Not cancelling, just restructuring: I need to hand over the owner role to {coworker} because I'm moving to another department.",
    ),
    (
        "account",
        "Billing contact is fine as it is. What I need is to change MY login email from my personal address to my work one.",
    ),
    (
        "account",
        "I'd love bulk invites as a feature someday, but for now: can you remove the three ex-employees still listed in our workspace? I don't have the permission.",
    ),
    (
        "account",
        "The app works great. The problem is with my account: it says my email is unverified and I can't find the verification email anywhere.",
    ),
    (
        "account",
        "We paid for 10 seats. One of them belongs to someone who left; please transfer his seat to our new hire so she can log in.",
    ),
    (
        "account",
        "I'm not sure if this is a bug or a setting, but {coworker} can see every project, including HR ones. How do I restrict what members can see?",
    ),
    (
        "account",
        "Got a new phone, moved everything over except my authenticator. Now 2FA blocks me from logging in. The card on file is mine if you need to verify.",
    ),
    (
        "shipping",
        "The Cube seems like it'll be great once it gets here - but the tracking for {order} hasn't moved from 'in transit' in nine days. Where is it?",
    ),
    (
        "shipping",
        "I was charged correctly for the Room Panel, no problem there. But it was delivered to our old office address instead of the new one I entered.",
    ),
    (
        "shipping",
        "Our account is fine and the software works, this is only about the hardware: the Cube Dock arrived with a snapped cable. Can you send a replacement?",
    ),
    (
        "shipping",
        "Not a technical problem, the Panel turns on fine - it's just that you sent the black one and we ordered white. How do we swap it?",
    ),
    (
        "shipping",
        "Would love a USB-C version of the Cube one day, but for now I just need to know when my current order ({order}) will actually ship.",
    ),
    (
        "shipping",
        "We're cancelling our hardware order? No - sorry, let me be clear: we want to KEEP the order but change it to ship to our Dublin office instead of London.",
    ),
    (
        "shipping",
        "Just a heads up that the invoice for the Cubes is correct, but the box only contained two of the three. Please send the missing one.",
    ),
    (
        "shipping",
        "Before anyone asks, yes I've paired Cubes before. The issue is there's no Cube in the box - just the dock and the manual. Order {order}.",
    ),
    (
        "feature_request",
        "Not complaining about the price, it's fair. I'd just love for the Team plan to include the workload view, or to have it available as an add-on.",
    ),
    (
        "feature_request",
        "This isn't a bug, the CSV export works as designed, but could you add an option to export directly to Excel with the formatting kept?",
    ),
    (
        "feature_request",
        "We almost left for {tool} because it has task dependencies and you don't. Please consider adding them - it's the one thing we miss.",
    ),
    (
        "feature_request",
        "Our Cubes are great. Idea: let us assign each side of the Cube a colour in the app so it's easier to remember which face is which project.",
    ),
    (
        "feature_request",
        "Account-wise all good. Suggestion though: let admins see a log of who changed which permission and when.",
    ),
    (
        "feature_request",
        "I know the Room Panel is only made in black right now, but a white one would suit more offices. Please consider it for the next batch.",
    ),
    (
        "feature_request",
        "Not urgent and nothing's broken - I'd just like an option to collapse all columns on the board with one click.",
    ),
    (
        "feature_request",
        "Our renewal is coming up and we're staying, no worries. One request from the team though: recurring tasks that skip public holidays.",
    ),
    (
        "feature_request",
        "Sometimes I think the notifications are broken, but really it's that I want a digest instead of one email per comment. Could you add a daily digest option?",
    ),
    (
        "cancellation",
        "The app is fine and support has been lovely, but we have to cancel - our funding round fell through. Please stop the subscription after this month.",
    ),
    (
        "cancellation",
        "We've had too many sync problems with Outlook to keep going. I'm not looking for a fix at this point, please just cancel our plan.",
    ),
    (
        "cancellation",
        "Please cancel our subscription. And for the refund on the unused months - is that automatic or do I need to request it?",
    ),
    (
        "cancellation",
        "You never added Gantt charts, which was the one thing we asked for, so we're moving on. Please cancel our Team plan.",
    ),
    (
        "cancellation",
        "I'll return the Cube separately, but first please cancel the software subscription so I'm not charged on the 1st.",
    ),
    (
        "cancellation",
        "Since I can't get 2FA sorted for the whole team and we're switching to {tool} anyway, please just close our workspace and cancel billing.",
    ),
    (
        "cancellation",
        "Price went up again this year and we can't justify it. Not asking for a discount - please cancel at renewal.",
    ),
    (
        "cancellation",
        "The new owner of our company doesn't want to keep Brightdesk. I'm still the admin for now, so I'm asking you to cancel the subscription for {company}.",
    ),
    (
        "cancellation",
        "Thanks for fixing the export bug last month. Unfortunately the team has decided to switch tools anyway, so please cancel our account at the end of the cycle.",
    ),
]


def sign(rng, vals):
    r = rng.random()
    name = vals["name"]
    if r < 0.35:
        return ""
    if r < 0.6:
        return name
    if r < 0.75:
        return "- " + name
    if r < 0.9:
        return name + "\n" + vals["company"]
    return (
        name
        + " | "
        + pick(rng, ["Operations", "Finance", "Project lead", "Founder", "Studio manager", "IT"])
        + ", "
        + vals["company"]
    )


def compose(rng, label, core):
    pieces = core.split("||")
    vals = draw(rng)
    text = fill(rng, pieces[0], vals)
    specific = [fill(rng, p, vals) for p in pieces[1:]]

    def details(k):
        """Up to k extra sentences, preferring the ones written for this request."""
        pool = list(specific)
        rng.shuffle(pool)
        generic = list(DETAILS[label])
        rng.shuffle(generic)
        if rng.random() < 0.5 or not pool:
            pool = pool + [fill(rng, g, vals) for g in generic[:1]]
        return pool[:k]

    style = rng.random()
    if style < 0.22:
        # Short chat-style message: just the request, often casual.
        msg = text
        if specific and rng.random() < 0.3:
            msg += " " + specific[0]
        if rng.random() < 0.7:
            msg = casual(rng, msg)
        if rng.random() < 0.35:
            msg = typo(rng, msg)
        return msg
    if style < 0.55:
        parts = []
        if rng.random() < 0.7:
            opener = pick(rng, OPENERS)
            if opener.endswith(","):
                if opener.startswith(("Dear", "To whom")) or rng.random() < 0.4:
                    text = opener + "\n" + text
                    opener = ""
                else:
                    opener = opener[:-1] + pick(rng, [".", "!"])
            if opener:
                parts.append(opener)
        parts.append(text)
        if rng.random() < 0.65:
            parts.extend(details(rng.choice([1, 1, 2])))
        if rng.random() < 0.5:
            parts.append(pick(rng, [c for c in CLOSERS if not c.endswith(",")]))
        msg = " ".join(parts)
        if rng.random() < 0.25:
            msg = typo(rng, msg, n=rng.choice([1, 2]))
        if rng.random() < 0.2:
            msg = casual(rng, msg)
        return msg
    if style < 0.8:
        # Email with a blank line between greeting, body and sign-off.
        body = []
        if rng.random() < 0.55:
            body.append(fill(rng, pick(rng, CONTEXT), vals))
        body.append(text)
        body.extend(details(rng.choice([0, 1, 1, 2])))
        msg = pick(rng, OPENERS) + "\n\n" + " ".join(body)
        closer = pick(rng, CLOSERS)
        s = sign(rng, vals)
        if closer.endswith(",") and not s:
            s = vals["name"]
        msg += "\n\n" + closer + ("\n" + s if s else "")
        if rng.random() < 0.3:
            msg = "Subject: " + pick(rng, SUBJECTS[label]) + "\n\n" + msg
        if rng.random() < 0.15:
            msg = typo(rng, msg)
        return msg
    # Web-form / widget style.
    lines = []
    if rng.random() < 0.5:
        lines.append("Workspace: " + vals["company"])
    lines.append("Topic: " + pick(rng, ["Other", "General", "Help", "Question", "Support"]))
    extra = details(1) if rng.random() < 0.5 else []
    lines.append("Message: " + " ".join([text] + extra))
    return "\n".join(lines)


def main():
    rng = random.Random(SEED)
    rows = []
    for label in LABELS:
        cores = CORES[label]
        # every core at least twice, some three times, each in a different dress
        for rep in range(3):
            for core in cores:
                if rep == 2 and rng.random() < 0.45:
                    continue
                rows.append({"prompt": compose(rng, label, core), "completion": label})
        for msg in HANDWRITTEN[label]:
            rows.append({"prompt": msg, "completion": label})
    for label, msg in HARD:
        rows.append({"prompt": fill(rng, msg), "completion": label})

    rows = dedupe(rows, key=lambda r: r["prompt"].strip().lower())

    # Balance: cap each label so no label dominates, then split per label.
    by = {lab: [r for r in rows if r["completion"] == lab] for lab in LABELS}
    cap = 104
    train, evl = [], []
    for lab in LABELS:
        items = by[lab]
        rng.shuffle(items)
        items = items[:cap]
        n_eval = round(len(items) * 0.245)
        evl.extend(items[:n_eval])
        train.extend(items[n_eval:])
    rng.shuffle(train)
    rng.shuffle(evl)
    write_jsonl(os.path.join(OUT, "train.jsonl"), train)
    write_jsonl(os.path.join(OUT, "eval.jsonl"), evl)
    with open(os.path.join(OUT, "labels.txt"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(LABELS) + "\n")
    print("support-triage: train=%d eval=%d" % (len(train), len(evl)))
    for lab in LABELS:
        print("  %-16s %d" % (lab, len(by[lab])))


if __name__ == "__main__":
    main()
