"""Generate examples/feedback: scored replies from Brightdesk's in-app help assistant.

Brightdesk (the same fictional project-management app as support-triage) has
an in-app assistant. Users rated its answers with a thumbs up/down or with
1-5 stars. Each fact below is one thing the help centre says; the assistant's
recorded answers were either right (concise, correct), padded, partial, or
bad in one of several ways: wrong, hallucinated (inventing a feature or a menu
that does not exist), evasive, rude, or about something else entirely.

Run:  python examples/_generate/make_feedback.py
Pure stdlib, fixed seed: the output is the same on every run.
"""

import os
import random

from _common import EXAMPLES, casual, pick, typo, write_jsonl

SEED = 99
OUT = os.path.join(EXAMPLES, "feedback")


def F(topic, questions, good, partial, wrong, halluc):
    return {
        "topic": topic,
        "q": questions,
        "good": good,
        "partial": partial,
        "wrong": wrong,
        "halluc": halluc,
    }


FACTS = [
    F(
        "export timesheets",
        [
            "How do I export timesheets?",
            "Can I get our hours out as an Excel file?",
            "where's the export button for timesheets",
            "Need last month's timesheet as a CSV for payroll. How?",
        ],
        [
            "Go to Reports > Timesheets, pick the date range, then click Export and choose CSV or Excel.",
            "Open Reports > Timesheets, set the dates you need, and use Export (top right). You can pick CSV or Excel.",
        ],
        "You can export timesheets from the Reports area.",
        "Go to Settings > Billing > Export and download the timesheet file from there.",
        "Type /export timesheets in any Brightdesk comment and the file will be emailed to you within an hour.",
    ),
    F(
        "reset password",
        [
            "I forgot my password.",
            "How do I reset my password?",
            "reset password link not working",
            "Can't remember my login password, what do I do?",
        ],
        [
            "Click 'Forgot password?' on the login page and enter your email. The reset link is valid for 30 minutes, so use it straight away.",
            "Use 'Forgot password?' on the sign-in page. We'll email you a link that works for 30 minutes; if it expired, just request a new one.",
        ],
        "There's a password reset option on the login page.",
        "Passwords can only be reset by your workspace admin from the Members page.",
        "Text RESET to Brightdesk's support number and you'll get a new password by SMS.",
    ),
    F(
        "invite user",
        [
            "How do I add someone to my workspace?",
            "How do I invite a new team member?",
            "Adding a colleague - where do I do that?",
            "can members invite people or only admins?",
        ],
        [
            "Admins can go to Settings > Members and click Invite, then enter one or more email addresses. Members can't invite people unless an admin allows it.",
            "In Settings > Members, click Invite and type their email. Only admins can do this by default.",
        ],
        "You can invite people from the settings.",
        "New users have to be added by Brightdesk support; send us their email and we'll set them up.",
        "Drag their email address from your inbox onto the Brightdesk sidebar and they'll be added automatically.",
    ),
    F(
        "transfer ownership",
        [
            "How do I make someone else the workspace owner?",
            "I'm leaving the company, how do I hand over the workspace?",
            "transfer owner role?",
            "Can there be two owners?",
        ],
        [
            "The current owner opens Settings > Members, clicks the three dots next to the new person and picks 'Transfer ownership'. There can only be one owner, but you can have several admins.",
            "Only the current owner can do it: Settings > Members, then the ⋯ menu next to the person, then 'Transfer ownership'. A workspace has one owner and any number of admins.",
        ],
        "Ownership can be transferred in the members settings.",
        "Ownership can't be transferred. You'll need to create a new workspace and move the projects across.",
        "Any admin can claim ownership by clicking 'Become owner' on the billing page.",
    ),
    F(
        "pair cube",
        [
            "How do I connect my Cube?",
            "Cube won't pair, what are the steps?",
            "Setting up the Brightdesk Cube",
            "how do i pair the cube with my laptop",
        ],
        [
            "Open the desktop app, go to Devices > Add Cube, then hold the Cube's top button for 3 seconds until the light blinks blue. It pairs over Bluetooth.",
            "In the desktop app choose Devices > Add Cube and hold the button on top of the Cube for 3 seconds. When the light blinks blue it's ready to pair over Bluetooth.",
        ],
        "The Cube connects through the desktop app.",
        "The Cube connects over wifi: press the button and enter your wifi password in the mobile app.",
        "The Cube pairs only through the USB cable; plug it in and it appears under Integrations > Hardware.",
    ),
    F(
        "cube faces",
        [
            "How do I choose which project each side of the Cube tracks?",
            "Can I change what the Cube sides do?",
            "cube side assignments",
            "How many projects can one Cube track?",
        ],
        [
            "In the desktop app go to Devices > your Cube and pick a project for each face. Five faces can track projects; the sixth is always 'pause'.",
            "Open Devices > Cube in the desktop app and set a project for each side. You get five project sides plus one pause side.",
        ],
        "You can set the Cube's sides in the app.",
        "Each side of the Cube tracks the project you flipped to first and can't be changed afterwards.",
        "You can assign up to 12 projects by double-flipping the Cube, which switches it to its second set of faces.",
    ),
    F(
        "dark mode",
        [
            "Is there a dark mode?",
            "How do I turn on dark theme?",
            "dark mode pls",
            "Can I make Brightdesk darker? My eyes hurt.",
        ],
        [
            "There's no dark mode yet. You can switch on the high-contrast theme in Settings > Appearance, and vote for dark mode on the public roadmap.",
            "Not yet, sorry. Settings > Appearance has a high-contrast theme that some people find easier on the eyes, and dark mode is on the roadmap where you can vote for it.",
        ],
        "Dark mode isn't available.",
        "Dark mode turns on automatically at sunset based on your timezone.",
        "Go to Settings > Appearance > Theme and choose 'Midnight' to switch to dark mode.",
    ),
    F(
        "recurring tasks",
        [
            "How do I make a task repeat every week?",
            "Can tasks recur monthly?",
            "recurring task setup",
            "I want a task every Monday, how",
        ],
        [
            "Open the task, click Repeat and choose daily, weekly, monthly or a custom pattern, such as every Monday.",
            "On the task, click Repeat. Pick weekly and tick Monday, or use Custom for anything else.",
        ],
        "Tasks can be set to repeat.",
        "Recurring tasks are only available through the API.",
        "Add #weekly to the end of the task title and Brightdesk will repeat it every week.",
    ),
    F(
        "dependencies",
        [
            "Can I make one task depend on another?",
            "Does Brightdesk support task dependencies?",
            "How do I link tasks so one can't start before the other finishes?",
            "dependencies on timeline?",
        ],
        [
            "Brightdesk doesn't support task dependencies yet. For now you can order tasks on the timeline and use a 'Blocked' status, and you can vote for dependencies on the roadmap.",
            "Not yet. The usual workaround is to line tasks up on the timeline and mark waiting ones as 'Blocked'. Dependencies are on the public roadmap.",
        ],
        "Dependencies aren't supported, I think.",
        "Yes, on the Business plan you can drag from the end of one task bar to another on the timeline to link them.",
        "Right-click a task and choose 'Depends on…' to pick the task it waits for.",
    ),
    F(
        "slack integration",
        [
            "How do I connect Slack?",
            "Can I create tasks from Slack?",
            "slack integration setup",
            "Is there a Slack app for Brightdesk?",
        ],
        [
            "Go to Settings > Integrations > Slack and click Connect. After that you can type /brightdesk in Slack to create a task from any channel.",
            "Connect it under Settings > Integrations > Slack. Then use /brightdesk in Slack to turn a message into a task.",
        ],
        "Yes, there's a Slack integration in the settings.",
        "Slack isn't supported, only Microsoft Teams.",
        "Invite @BrightBot to your Slack channel and every message with a star emoji becomes a task.",
    ),
    F(
        "google calendar",
        [
            "Does Brightdesk sync with Google Calendar?",
            "If I move an event in Google Calendar does the task move?",
            "calendar sync how often",
            "How do I see my tasks in Google Calendar?",
        ],
        [
            "Yes. Connect it in Settings > Integrations > Google Calendar and tasks with a due time appear in your calendar, updated every 5 minutes. The sync is one-way, so editing the event won't change the task.",
            "Connect Google Calendar under Settings > Integrations. Tasks with a due time show up within 5 minutes. It's one-way: change the task in Brightdesk, not the calendar event.",
        ],
        "You can connect Google Calendar in the integrations settings.",
        "Google Calendar syncs both ways, so moving the event also moves the task.",
        "Brightdesk reads your calendar and automatically blocks out time for every task using AI scheduling.",
    ),
    F(
        "guests",
        [
            "Are guest users free?",
            "How many guests can I invite?",
            "What can guests see?",
            "guest access to one project only?",
        ],
        [
            "Guests are free. The Team plan allows 10 guests and Business allows unlimited guests. They only see the projects you share with them.",
            "Guests don't cost anything. You can have 10 on Team and as many as you like on Business, and each guest sees only the projects shared with them.",
        ],
        "Guests are supported on paid plans.",
        "Guests cost the same as a full member seat.",
        "Guests can see every project in the workspace but can't edit anything.",
    ),
    F(
        "pricing",
        [
            "How much does Brightdesk cost?",
            "What's the price of the Team plan?",
            "pricing per user?",
            "Is annual billing cheaper?",
        ],
        [
            "Starter is $8, Team $14 and Business $24 per user per month. Paying annually saves 20%.",
            "Per user per month: Starter $8, Team $14, Business $24. Annual billing is 20% cheaper.",
        ],
        "Prices depend on the plan and number of users.",
        "Every plan is a flat $99 a month no matter how many users you have.",
        "Team is $14 per user, and annual billing gives you a free Cube for every five users.",
    ),
    F(
        "cancel subscription",
        [
            "How do I cancel my subscription?",
            "If I cancel, do I lose my data straight away?",
            "cancel plan",
            "What happens after I cancel?",
        ],
        [
            "The owner can cancel in Settings > Billing > Cancel plan. You keep access until the end of the billing period, and your data is kept for 90 days after that.",
            "Go to Settings > Billing and click Cancel plan. Access continues until the period ends, and we keep your data for 90 days in case you come back.",
        ],
        "You can cancel from the billing settings.",
        "Cancelling deletes your workspace and all data immediately.",
        "To cancel, email a signed cancellation form to our legal team; it takes 60 days to process.",
    ),
    F(
        "invoices",
        [
            "Where can I download our invoices?",
            "I need a PDF of last month's invoice.",
            "past invoices?",
            "How do I get receipts for our Brightdesk payments?",
        ],
        [
            "Go to Settings > Billing > Invoices. Every invoice is listed there and you can download each one as a PDF.",
            "All invoices are under Settings > Billing > Invoices, with a PDF download next to each one.",
        ],
        "Invoices are in the billing section.",
        "Invoices are only sent by email; if you lost one, we can't resend it.",
        "Invoices are stored in a hidden project called 'Billing' that appears in your sidebar each month.",
    ),
    F(
        "vat number",
        [
            "How do I add our VAT number to invoices?",
            "Need our tax ID on the invoice.",
            "Can you add VAT number to old invoices too?",
            "where do i put my company vat id",
        ],
        [
            "Add it in Settings > Billing > Company details > Tax ID. It appears on all future invoices; for past ones, contact support and they'll reissue them.",
            "Enter it under Settings > Billing > Company details. New invoices will show it, and support can reissue older ones.",
        ],
        "You can add a tax ID in billing settings.",
        "VAT numbers can't be added by customers; Brightdesk only shows VAT IDs for Enterprise accounts.",
        "Put your VAT number in your profile's job title field and it will be printed on invoices.",
    ),
    F(
        "enable 2fa",
        [
            "How do I turn on two-factor authentication?",
            "Does Brightdesk have 2FA?",
            "set up authenticator app",
            "Can admins force everyone to use 2FA?",
        ],
        [
            "Go to Profile > Security > Two-factor and scan the QR code with an authenticator app, then save your backup codes. Admins can require it for everyone in Settings > Security.",
            "Yes: Profile > Security > Two-factor, scan the code with your authenticator app and keep the backup codes safe. Admins can make it mandatory under Settings > Security.",
        ],
        "Yes, Brightdesk supports 2FA.",
        "Two-factor is only available by SMS and can't be enforced for a team.",
        "Turn on 2FA by linking your Cube: flip it to the pause side whenever you log in.",
    ),
    F(
        "lost 2fa",
        [
            "I lost my phone and can't log in with 2FA.",
            "How do I get in without my authenticator?",
            "2fa device lost",
            "New phone, my authenticator codes are gone.",
        ],
        [
            "Use one of your backup codes on the login screen. If you don't have them, an admin can reset your 2FA from Settings > Members, or support can do it after checking your identity.",
            "Sign in with a backup code. No backup codes? Ask a workspace admin to reset your 2FA in Settings > Members, or contact support to verify your identity.",
        ],
        "You'll need to recover your account.",
        "If you lose your 2FA device the account is locked permanently for security reasons.",
        "Just log in with your email and add '-reset' to the end of your password to skip 2FA once.",
    ),
    F(
        "archive project",
        [
            "How do I archive a project?",
            "Can I get an archived project back?",
            "archive vs delete project",
            "hide finished projects",
        ],
        [
            "Open the project's ⋯ menu and choose Archive. It disappears from the sidebar but nothing is deleted, and you can restore it from Archived projects at the bottom of the sidebar.",
            "Use the ⋯ menu on the project and pick Archive. To bring it back, open Archived projects at the bottom of the sidebar and click Restore.",
        ],
        "Projects can be archived.",
        "Archiving a project deletes it after 30 days.",
        "Archived projects are moved to a separate free workspace called 'Archive' that you can log into.",
    ),
    F(
        "restore task",
        [
            "I deleted a task by accident. Can I get it back?",
            "Is there a trash or recycle bin?",
            "undo delete task",
            "How long are deleted tasks kept?",
        ],
        [
            "Yes. Deleted tasks stay in the Trash for 30 days. Open Trash from the sidebar, find the task and click Restore.",
            "Go to Trash in the sidebar. Anything deleted in the last 30 days can be restored from there.",
        ],
        "Deleted tasks can sometimes be recovered.",
        "Deleted tasks are gone immediately; there's no way to restore them.",
        "Press Ctrl+Shift+Z anywhere in Brightdesk to undo any deletion from the past year.",
    ),
    F(
        "time tracker",
        [
            "How do I start a timer?",
            "Can I run two timers at once?",
            "keyboard shortcut for timer",
            "How do I track time on a task?",
        ],
        [
            "Click the play button on any task, or open the task and press T. Only one timer can run at a time; starting another stops the first.",
            "Press play on the task (or T when it's open). You can only have one timer running, so starting a new one stops the old one.",
        ],
        "There's a timer on tasks.",
        "You can run as many timers as you like at the same time.",
        "Say 'Hey Brightdesk, start timer' to your phone and it will start tracking the last task you viewed.",
    ),
    F(
        "edit time entry",
        [
            "I forgot to stop my timer. How do I fix the hours?",
            "Can I edit a time entry?",
            "change logged hours yesterday",
            "Why can't I edit last week's time?",
        ],
        [
            "Go to Timesheets, click the entry and change the start and end time. If you can't edit it, an admin has locked that week; ask them to unlock it.",
            "Open Timesheets and click the entry to edit it. Past weeks can be locked by admins, so ask one if the entry is greyed out.",
        ],
        "Time entries can be edited.",
        "Time entries can't be changed once saved, so you'll need to add a negative entry.",
        "Drag the entry onto the Cube icon in the sidebar to reset it.",
    ),
    F(
        "billable rates",
        [
            "How do I set hourly rates?",
            "Can different projects have different rates?",
            "billable rates per person",
            "hourly rate setup for clients",
        ],
        [
            "On the Business plan go to Settings > Rates. You can set a rate per person, per project, or both; project rates win when both are set.",
            "Rates are a Business feature: Settings > Rates lets you set them per person or per project, and the project rate takes priority.",
        ],
        "You can set rates on some plans.",
        "Rates are set per workspace only; everyone has the same rate.",
        "Rates are calculated automatically from each person's salary, which Brightdesk imports from payroll.",
    ),
    F(
        "automations",
        [
            "How do automations work?",
            "How many automation runs do we get?",
            "set up an automation rule",
            "Can I automatically assign tasks when they move to a column?",
        ],
        [
            "Open the project and go to Automations > New rule, then choose a trigger (like 'moved to column') and an action (like 'assign to'). Team includes 250 runs a month; Business is unlimited.",
            "In the project, click Automations > New rule and pick a trigger and an action. The Team plan has 250 runs per month and Business has no limit.",
        ],
        "Automations are in the project menu.",
        "Automations are only available on the Enterprise plan.",
        "Just describe what you want in a comment starting with 'auto:' and Brightdesk will build the rule for you.",
    ),
    F(
        "custom fields",
        [
            "Can I add custom fields to tasks?",
            "I need a 'budget' field on tasks.",
            "custom fields?",
            "Is there a way to add our client code to each task?",
        ],
        [
            "Custom fields aren't available yet. For now, many teams use tags (like a client code) or put the value in the task title, and you can vote for custom fields on the roadmap.",
            "Not yet. Tags are the closest option today, for example one tag per client code. Custom fields are on the public roadmap.",
        ],
        "Custom fields aren't supported.",
        "Go to Project settings > Fields and add text, number or dropdown fields.",
        "Type {{budget}} in the task description and Brightdesk turns it into a custom field.",
    ),
    F(
        "import",
        [
            "Can I import from Trello?",
            "How do I move our Asana projects over?",
            "import from another tool",
            "Do comments come across when importing?",
        ],
        [
            "Go to Settings > Import and pick Trello or Asana. Tasks, comments and attachments come across. For other tools, export a CSV and import it; CSV imports don't include comments.",
            "Settings > Import supports Trello and Asana directly, including comments and attachments. Anything else can come in as a CSV, without comments.",
        ],
        "You can import data in the settings.",
        "Imports only work from CSV files; direct Trello and Asana imports aren't supported.",
        "Forward your Trello notification emails to import@brightdesk and they'll be turned into projects.",
    ),
    F(
        "offline mobile",
        [
            "Does the mobile app work offline?",
            "Can I use Brightdesk without signal?",
            "offline mode",
            "I'm on site with no internet a lot, will the app work?",
        ],
        [
            "Not yet. The mobile app needs a connection to load and save tasks. Offline mode is on the roadmap, where you can vote for it.",
            "No, the app needs internet for now. Offline support is planned; you can follow it on the public roadmap.",
        ],
        "The app has limited offline support.",
        "Yes, everything works offline and syncs later.",
        "Turn on Airplane Sync in the app settings to download a full copy of your workspace.",
    ),
    F(
        "notifications",
        [
            "How do I stop getting so many emails?",
            "Can I get a daily digest instead of every notification?",
            "notification settings",
            "Turn off push notifications on my phone",
        ],
        [
            "Go to Profile > Notifications. You can switch email and push on or off for each type, or choose a daily digest instead of individual emails.",
            "In Profile > Notifications, turn off the ones you don't want or pick 'Daily digest' for email.",
        ],
        "You can change notifications in your profile.",
        "Notifications can only be changed by an admin for the whole workspace.",
        "Reply STOP to any Brightdesk email and all notifications are turned off for 30 days.",
    ),
    F(
        "api token",
        [
            "How do I get an API key?",
            "What's the API rate limit?",
            "Where do I create an API token?",
            "Can I read time entries through the API?",
        ],
        [
            "Create a token in Settings > API > Generate token. The limit is 100 requests a minute. The API covers projects and tasks; time entries aren't available through it yet.",
            "Settings > API > Generate token. You get 100 requests per minute, for projects and tasks only; time entries aren't in the API yet.",
        ],
        "API tokens are in the settings.",
        "API access needs a separate developer account at a different website.",
        "Use your login password as the API key and add ?admin=true for full access.",
    ),
    F(
        "room panel setup",
        [
            "How do I set up the Room Panel?",
            "Room Panel asks for a room code, where do I find it?",
            "room panel install",
            "Which calendars does the Room Panel work with?",
        ],
        [
            "Plug it in, connect it to wifi, then enter the room code from Settings > Rooms. It shows bookings from Google or Outlook room calendars.",
            "Connect the Panel to wifi and type in the room code, which you'll find under Settings > Rooms. It works with Google and Outlook room calendars.",
        ],
        "The Room Panel connects to your rooms in the settings.",
        "The Room Panel has to be wired to your network with an ethernet cable and doesn't need a room code.",
        "The room code is printed on the back of the Panel and can't be changed.",
    ),
    F(
        "seat billing",
        [
            "Do we pay for deactivated users?",
            "How is the bill calculated?",
            "Do guests count as seats?",
            "I removed 3 users, when does the bill go down?",
        ],
        [
            "You pay for active members only; guests are free. When you deactivate someone, you get a prorated credit on the next invoice.",
            "Only active members count as seats, not guests. Deactivated users come off, with a prorated credit on your next invoice.",
        ],
        "Billing is based on users.",
        "You pay for every user ever added, including deactivated ones, until the end of the year.",
        "Seats are billed by the number of hours tracked, not the number of people.",
    ),
    F(
        "update card",
        [
            "How do I change the card we pay with?",
            "Our card expired, where do I update it?",
            "update payment method",
            "Can we pay with a different card this month?",
        ],
        [
            "Go to Settings > Billing > Payment method and click Update. The new card is used from the next payment; you need to be the owner or a billing admin.",
            "Owners and billing admins can change it in Settings > Billing > Payment method > Update.",
        ],
        "Payment details are in billing.",
        "Cards can only be changed by contacting your bank.",
        "Upload a photo of the new card to the Billing project and we'll update it for you.",
    ),
    F(
        "refunds",
        [
            "Can I get a refund?",
            "Do you refund annual plans?",
            "refund policy",
            "We paid annual last week by mistake. Refund?",
        ],
        [
            "Annual plans can be refunded pro-rata within 30 days of payment; contact support from Settings > Billing. Monthly plans aren't refunded, but you can cancel any time.",
            "If you paid annually in the last 30 days, support can refund the unused part; use the contact link in Settings > Billing. Monthly payments aren't refunded.",
        ],
        "Refunds are possible in some cases.",
        "Brightdesk never gives refunds under any circumstances.",
        "Every plan comes with a no-questions-asked 180-day money-back guarantee.",
    ),
    F(
        "export all data",
        [
            "How do I export all our data?",
            "Can I download everything before we leave?",
            "full workspace export",
            "backup of the whole workspace?",
        ],
        [
            "The owner can go to Settings > Workspace > Export all data. You'll get an email with a download link to a ZIP of all tasks and files; the link lasts 7 days.",
            "Settings > Workspace > Export all data. We email the owner a ZIP link, valid for 7 days.",
        ],
        "You can export your data.",
        "Full exports have to be requested through your account manager.",
        "Full exports are only possible by printing every project to PDF.",
    ),
    F(
        "delete workspace",
        [
            "How do I delete our workspace?",
            "Can I undo deleting a workspace?",
            "delete everything",
            "remove workspace permanently",
        ],
        [
            "The owner can delete it in Settings > Workspace > Delete workspace. There's a 14-day grace period when support can restore it; after that it's gone for good.",
            "Only the owner can: Settings > Workspace > Delete workspace. You have 14 days to change your mind by contacting support.",
        ],
        "The owner can delete the workspace.",
        "Any member can delete the workspace, and it's removed instantly.",
        "Workspaces delete themselves after 7 days without logins, so you don't need to do anything.",
    ),
    F(
        "shortcuts",
        [
            "Are there keyboard shortcuts?",
            "Shortcut list?",
            "how do i see all shortcuts",
            "Is there a quick way to create a task with the keyboard?",
        ],
        [
            "Press ? anywhere in Brightdesk to see every shortcut. For example, N creates a new task and T starts a timer on the open task.",
            "Press ? to open the shortcut list. N makes a new task, T starts the timer.",
        ],
        "There are some keyboard shortcuts.",
        "Brightdesk doesn't support keyboard shortcuts.",
        "Hold Alt and type the first letters of a project name to jump to it; press F12 for the shortcut list.",
    ),
    F(
        "trial",
        [
            "How long is the free trial?",
            "Do I need a card for the trial?",
            "trial length",
            "Which plan do I get during the trial?",
        ],
        [
            "The trial lasts 14 days on the Business plan, with no card needed. If you don't pick a plan at the end, the workspace moves to read-only.",
            "You get 14 days of Business for free, no card required. Afterwards it becomes read-only until you choose a plan.",
        ],
        "There's a free trial.",
        "The trial is 30 days on the Starter plan and requires a card.",
        "Trials last as long as you like as long as you have fewer than 3 tasks.",
    ),
    F(
        "timezone",
        [
            "My times are showing in the wrong timezone.",
            "How do I change my timezone?",
            "Timesheets are 5 hours off",
            "time zone settings",
        ],
        [
            "Set your own timezone in Profile > Time zone. Timesheets use each person's timezone, so a teammate abroad will see times in theirs.",
            "Change it in Profile > Time zone. Each person's entries use their own timezone, which is usually why times look off.",
        ],
        "Timezone can be changed.",
        "The timezone is set once for the whole workspace and can't be changed per person.",
        "Brightdesk always uses UTC; just add or subtract the difference yourself.",
    ),
    F(
        "workload",
        [
            "What does the workload view show?",
            "How do I set someone's capacity?",
            "workload view plans",
            "Why is someone showing as overloaded?",
        ],
        [
            "The workload view shows how many hours each person has assigned per week against their capacity. Set capacity in Settings > Members. It's on the Team and Business plans.",
            "It compares each person's assigned hours with their weekly capacity, which you set in Settings > Members. Available on Team and Business.",
        ],
        "It shows everyone's workload.",
        "Workload shows the number of tasks per person, not hours, and capacity can't be set.",
        "The workload view reads people's calendars and mood check-ins to estimate how stressed they are.",
    ),
    F(
        "change email",
        [
            "How do I change my login email?",
            "Switching from gmail to my work email, how?",
            "update email on account",
            "Will I lose my data if I change email?",
        ],
        [
            "Go to Profile > Account > Email and enter the new address. We'll send a confirmation link there; your tasks and history stay the same.",
            "Profile > Account > Email. Confirm the link we send to the new address and you're done; nothing in your account changes.",
        ],
        "You can change your email in your profile.",
        "Email addresses can't be changed; create a new account and ask an admin to move your tasks.",
        "Log in with the new email and Brightdesk will merge it with your old account automatically.",
    ),
    F(
        "sso",
        [
            "Does Brightdesk support SSO?",
            "Can we use Okta?",
            "SAML setup",
            "Which plan has single sign-on?",
        ],
        [
            "Yes, on the Business plan. Go to Settings > Security > SSO and connect a SAML provider like Okta, Azure AD or Google Workspace.",
            "SSO is a Business plan feature. Set it up in Settings > Security > SSO with Okta, Azure AD or Google Workspace.",
        ],
        "SSO is supported.",
        "SSO is available on every plan, including Starter.",
        "Paste your Okta password into Settings > Security and Brightdesk will log everyone in with it.",
    ),
    F(
        "subtasks",
        [
            "How do I add subtasks?",
            "Can subtasks have their own subtasks?",
            "turn checklist into subtasks",
            "nested tasks?",
        ],
        [
            "Open the task and click Add subtask. Subtasks go one level deep; you can also turn a checklist item into a subtask from its ⋯ menu.",
            "Use Add subtask inside the task. There's only one level of subtasks, and checklist items can be converted from their ⋯ menu.",
        ],
        "You can add subtasks.",
        "Subtasks can be nested as deep as you like.",
        "Indent a task with the Tab key on the board and it becomes a subtask of the task above it.",
    ),
    F(
        "attachment limit",
        [
            "What's the file size limit?",
            "Upload keeps failing for a big video.",
            "max attachment size",
            "How much storage do we have?",
        ],
        [
            "Paid plans allow files up to 100 MB each, the free plan 10 MB. Team workspaces get 100 GB of storage and Business 1 TB.",
            "Each file can be up to 100 MB on paid plans (10 MB on free). Storage is 100 GB on Team and 1 TB on Business.",
        ],
        "There's a size limit on uploads.",
        "There's no file size limit at all.",
        "Zip the file and rename it to .bdz and Brightdesk will accept it regardless of size.",
    ),
    F(
        "calendar view",
        [
            "Is there a calendar view?",
            "How do I reschedule tasks quickly?",
            "calendar view in project",
            "Can I see tasks on a calendar?",
        ],
        [
            "Yes: open the project and choose View > Calendar. You can drag tasks to another day to change their due date.",
            "Open a project, pick View > Calendar, and drag tasks between days to reschedule them.",
        ],
        "There's a calendar view.",
        "The calendar view only exists in the mobile app.",
        "Double-tap the project name to flip it into calendar mode.",
    ),
    F(
        "duplicate project",
        [
            "How do I copy a project?",
            "Does duplicating a project copy the automations?",
            "duplicate project",
            "Use an old project as a template?",
        ],
        [
            "Open the project's ⋯ menu and choose Duplicate. You can choose to copy tasks and members; automations aren't copied, so you'll need to set them up again.",
            "Use ⋯ > Duplicate on the project. Tasks and members can come along, but automations don't, so recreate those afterwards.",
        ],
        "You can duplicate projects.",
        "Projects can't be copied; export to CSV and import it again.",
        "Duplicate copies everything, including automations, comments and time entries.",
    ),
    F(
        "cube battery",
        [
            "How long does the Cube battery last?",
            "How do I charge the Cube?",
            "cube battery",
            "What cable does the Cube use?",
        ],
        [
            "A full charge lasts about three months. It charges with the micro-USB cable in the box, and the light glows orange when the battery is low.",
            "About three months per charge. Use the micro-USB cable that came with it; an orange light means it's time to charge.",
        ],
        "The battery lasts a while.",
        "The Cube uses two AA batteries that last about a week.",
        "The Cube charges wirelessly whenever it's near your laptop, so you never need to plug it in.",
    ),
    F(
        "cube offline",
        [
            "What happens if the Cube loses connection?",
            "Does the Cube store flips when my laptop is off?",
            "cube offline tracking",
            "I flipped the Cube with the app closed, is the time lost?",
        ],
        [
            "The Cube stores up to two weeks of flips on its own and syncs them next time it connects to the desktop app, so nothing is lost.",
            "Nothing's lost: the Cube keeps up to two weeks of flips and uploads them when it reconnects to the desktop app.",
        ],
        "The Cube syncs later.",
        "Flips made while the Cube is disconnected are lost.",
        "The Cube sends offline flips by text message to your phone.",
    ),
    F(
        "hardware returns",
        [
            "How do I return a Cube?",
            "Can I send back the Room Panel?",
            "return hardware",
            "What's the return window for the Cube?",
        ],
        [
            "Unused hardware can be returned within 30 days. Go to Account > Orders, pick the order and click Return to get a prepaid label.",
            "You have 30 days to return unused hardware: Account > Orders > Return gives you a prepaid label.",
        ],
        "Hardware can be returned.",
        "Hardware can't be returned once it's shipped.",
        "Drop the Cube at any Apple Store and they'll return it to us for you.",
    ),
    F(
        "shipping times",
        [
            "How long does Cube delivery take?",
            "When will my Room Panel ship?",
            "delivery time hardware",
            "Is there express shipping?",
        ],
        [
            "Orders ship within 2 working days. Standard delivery then takes 3 to 5 working days, or 1 to 2 with express.",
            "We ship in 2 working days; standard delivery is 3–5 working days and express is 1–2.",
        ],
        "Shipping is usually quick.",
        "Hardware ships once a month in a batch.",
        "Every Cube is made to order, so delivery takes 6 to 8 weeks.",
    ),
    F(
        "languages",
        [
            "What languages is Brightdesk in?",
            "Can I use Brightdesk in German?",
            "change language",
            "Is there a French version?",
        ],
        [
            "Brightdesk is available in English, Spanish, French and Portuguese. Change it in Profile > Language. German isn't available yet.",
            "English, Spanish, French and Portuguese are available under Profile > Language. German is on the roadmap but not out yet.",
        ],
        "Brightdesk supports several languages.",
        "Brightdesk is English only.",
        "Brightdesk supports 40 languages and translates comments automatically.",
    ),
    F(
        "roles",
        [
            "What roles are there?",
            "Can I give someone read-only access?",
            "viewer role",
            "difference between admin and member",
        ],
        [
            "There are five roles: Owner, Admin, Member, Viewer and Guest. Viewers can read everything but change nothing; the Viewer role is on the Business plan.",
            "Owner, Admin, Member, Viewer and Guest. For read-only access use Viewer, which comes with the Business plan.",
        ],
        "There are a few roles.",
        "There are only two roles, admin and member, so read-only access isn't possible.",
        "Read-only access is set by adding 'RO' to the person's display name.",
    ),
    F(
        "desktop linux",
        [
            "Is there a Linux desktop app?",
            "Which desktop apps do you have?",
            "desktop app for ubuntu",
            "Do I need the desktop app?",
        ],
        [
            "The desktop app is for Mac and Windows. On Linux, use the web app in your browser; everything except Cube pairing works there.",
            "There are desktop apps for Mac and Windows. Linux users can use the web app, which has every feature apart from Cube pairing.",
        ],
        "There are desktop apps.",
        "There's a Linux app in the Snap store.",
        "Install the Android app on Linux through the Brightdesk emulator.",
    ),
    F(
        "mentions",
        [
            "How do I tag someone in a comment?",
            "Mentions aren't notifying people, how should I do it?",
            "@mention",
            "Can I notify the whole team in a comment?",
        ],
        [
            "Type @ followed by their name in a comment and pick them from the list; they'll get a notification. Use @project to notify everyone on the project.",
            "Type @ and their name, then select them from the dropdown. @project notifies the whole project.",
        ],
        "Use @ to mention people.",
        "Mentions only work in task descriptions, not comments.",
        "Wrap their name in asterisks, like *Sam*, to send them a notification.",
    ),
    F(
        "reports dashboard",
        [
            "How do I build a report?",
            "Can I save a report as a dashboard?",
            "reports",
            "Can I see time per client?",
        ],
        [
            "Open Reports, pick a type (time, progress or workload), add filters such as client or project, and click Save as dashboard to keep it.",
            "In Reports, choose the type, filter by client or project, and use Save as dashboard.",
        ],
        "There's a reports section.",
        "Reports can only show the current week.",
        "Reports are generated by emailing reports@brightdesk with the project name.",
    ),
]

PADDING_OPEN = [
    "Great question! ",
    "Thanks for asking! ",
    "Happy to help with that. ",
    "Sure thing! ",
    "Good question. ",
    "Absolutely, I can help with that. ",
]
PADDING_CLOSE = [
    " I hope this helps, and let me know if there's anything else I can do for you!",
    " Feel free to reach out if you have any other questions at all.",
    " Hope that clears things up! Brightdesk is always here to help your team do their best work.",
    " Let me know if you'd like more details on this or anything else.",
    " If you have any further questions, our help centre has lots of useful articles too.",
]
EVASIVE = [
    "I'm not able to help with that. Please contact your workspace admin or our support team.",
    "That depends on your setup. You may want to check the help centre for more information.",
    "Great question! Brightdesk has lots of powerful features designed to help your team work better together.",
    "I'd recommend reaching out to support, as they'll be able to look into this for you.",
    "There are several ways to approach this, and the best option depends on your team's needs.",
    "I don't have information about that right now. Please try again later.",
    "This is something that can be configured. Have a look around the settings to find what works for you.",
]
RUDE_OPEN = [
    "As it says in the help centre, ",
    "This is pretty basic, but ",
    "Again: ",
    "If you'd read the docs you'd know this. ",
    "Obviously, ",
]
RUDE_CLOSE = [
    " Please check the docs before asking next time.",
    " Not sure why this is confusing.",
    "",
    " It's really not that hard.",
    " Hope that's clear enough.",
]

GREETINGS = ["hi", "Hi,", "Hey", "hello", "Quick question:", "Hi there.", "Help!", "question -", ""]


def dress(rng, q):
    r = rng.random()
    if r < 0.35:
        return q
    if r < 0.6:
        return casual(rng, q)
    if r < 0.8:
        g = pick(rng, GREETINGS)
        lowers_next = g.endswith(",") or g.isalpha() or g.endswith("-")
        if lowers_next and not q.startswith(("I ", "I'")) and not q[1:2].isupper():
            q = q[0].lower() + q[1:]
        return (g + " " + q).strip()
    if r < 0.9:
        return typo(rng, q)
    ctx = pick(
        rng,
        [
            "I'm on the Team plan.",
            "We're a team of 12.",
            "I'm an admin.",
            "Using the web app.",
            "On my phone right now.",
            "New to Brightdesk.",
            "Sorry if this is obvious.",
        ],
    )
    return q + " " + ctx if rng.random() < 0.5 else ctx + " " + q


def answer(rng, fact, kind, others):
    g = pick(rng, fact["good"])
    if kind == "good":
        return g
    if kind == "padded":
        opens = PADDING_OPEN
        if g.startswith(("Not", "No,", "There's no", "Brightdesk doesn't", "Custom fields aren't")):
            opens = [
                "Thanks for asking! ",
                "Good question. ",
                "Great question! ",
            ]  # no "Sure thing! Not yet."
        return pick(rng, opens) + g + pick(rng, PADDING_CLOSE)
    if kind == "partial":
        tail = pick(
            rng,
            [
                "",
                " Let me know if you need anything else.",
                " You'll find it there.",
                " It should be fairly easy to find.",
            ],
        )
        return fact["partial"] + tail
    if kind == "wrong":
        return fact["wrong"]
    if kind == "halluc":
        return fact["halluc"]
    if kind == "evasive":
        return pick(rng, EVASIVE)
    if kind == "rude":
        return pick(rng, RUDE_OPEN) + g[0].lower() + g[1:] + pick(rng, RUDE_CLOSE)
    if kind == "offtopic":
        other = pick(rng, [f for f in others if f is not fact])
        return pick(rng, other["good"])
    raise ValueError(kind)


def build(rng, pool, n, plan):
    """plan: list of (kind, score, weight). Kinds are dealt in shuffled rounds so the
    label balance is exact; duplicate (prompt, completion) pairs are redrawn."""
    scores = {k: s for k, s, _ in plan}
    rows, seen = [], set()
    deck = []
    while len(rows) < n:
        if not deck:
            deck = [k for k, _, w in plan for _ in range(w)]
            rng.shuffle(deck)
        kind = deck.pop()
        for _ in range(50):
            fact, q = pick(rng, pool)
            prompt = dress(rng, q)
            comp = answer(rng, fact, kind, FACTS)
            key = (prompt.strip().lower(), comp)
            if key not in seen:
                break
        else:
            continue
        seen.add(key)
        s = scores[kind]
        if isinstance(s, tuple):
            s = pick(rng, s)
        rows.append({"prompt": prompt, "completion": comp, "score": s})
    return rows


THUMBS_PLAN = [
    ("good", True, 8),
    ("padded", True, 3),
    ("wrong", False, 3),
    ("halluc", False, 3),
    ("evasive", False, 1),
    ("rude", False, 1),
    ("offtopic", False, 1),
]
RATINGS_PLAN = [
    ("good", 5, 8),
    ("padded", 4, 4),
    ("partial", 3, 3),
    ("evasive", 2, 2),
    ("rude", 2, 2),
    ("wrong", (1, 2), 3),
    ("halluc", 1, 3),
    ("offtopic", 1, 1),
]


def main():
    rng = random.Random(SEED)
    train_pool, eval_pool = [], []
    for fact in FACTS:
        qs = list(fact["q"])
        rng.shuffle(qs)
        eval_pool.append((fact, qs[0]))
        train_pool.extend((fact, q) for q in qs[1:])
    thumbs = build(rng, train_pool, 290, THUMBS_PLAN)
    thumbs_eval = build(rng, eval_pool, 72, THUMBS_PLAN)
    ratings = build(rng, train_pool, 290, RATINGS_PLAN)
    ratings_eval = build(rng, eval_pool, 72, RATINGS_PLAN)
    # an eval prompt must never appear in a train file
    train_prompts = {r["prompt"].strip().lower() for r in thumbs + ratings}
    thumbs_eval = [r for r in thumbs_eval if r["prompt"].strip().lower() not in train_prompts]
    ratings_eval = [r for r in ratings_eval if r["prompt"].strip().lower() not in train_prompts]
    for name, rows in [
        ("thumbs", thumbs),
        ("thumbs_eval", thumbs_eval),
        ("ratings", ratings),
        ("ratings_eval", ratings_eval),
    ]:
        write_jsonl(os.path.join(OUT, name + ".jsonl"), rows)
        print("feedback/%s: %d" % (name, len(rows)))


if __name__ == "__main__":
    main()
