"""A working inbox's own mail for the learning replay (``bench/learning.py --mailbox worklife``):
what the SpamAssassin training split lacks, people asking one another for things by a date.

The SpamAssassin mail of 2002 is list traffic, newsletters and spam: 4 of its 810 last mails
set a deadline, so a reader "who only wants mail with deadlines" can show nothing there. This
module writes the mail of one person's working summer beside it, dated over the same weeks
(July to September 2002): colleagues, clients, a university, partners in Germany, France and
Spain, family, an intranet list and a few robots (tracker, invoices). It is composed, not
templated: each message picks its sender, its greeting, one to three sentences of its own
topic, perhaps a sentence that sets a deadline (phrased in one of many ways, several languages,
anywhere in the text), or else perhaps a request with no date (as common), perhaps a question, a quoted earlier message, a signature, from pools
written for it, with a fixed seed; near misses are many ("due to", dates that are no deadline,
"by the way", meetings on a day). No message says whether it has a deadline: the readers of the
bench judge that from the words alone, as they do the SpamAssassin mail.

About 10 % of a working inbox's mail asks for something by a date (here: 150 of the 2,023 + 400
messages, so a fifth of the fixture's own mail and a sixteenth of the whole mailbox).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

ME = ("Cleo Martin", "cleo.martin@northwind-labs.example")
SEED = 14
COUNT = 400
DEADLINE_SHARE = 0.37
START = datetime(2002, 7, 15, 8, 0, tzinfo=timezone.utc)
END = datetime(2002, 9, 30, 18, 0, tzinfo=timezone.utc)

# (name, address, language, how they greet and sign, topics they write about)
PEOPLE = [
    ("Priya Raman", "priya.raman@northwind-labs.example", "en", "boss", ("budget", "hiring", "roadmap", "review")),
    ("Tom Becker", "tom.becker@northwind-labs.example", "en", "peer", ("release", "review", "infra", "lunch")),
    ("Aisha Khan", "aisha.khan@northwind-labs.example", "en", "peer", ("release", "design", "hiring", "offsite")),
    ("Marco Ferri", "marco.ferri@northwind-labs.example", "en", "peer", ("infra", "release", "lunch", "design")),
    ("Lena Vogel", "lena.vogel@northwind-labs.example", "en", "report", ("design", "review", "travel", "release")),
    ("Sam O'Neill", "sam.oneill@northwind-labs.example", "en", "report", ("infra", "travel", "release", "expenses")),
    ("HR Team", "people@northwind-labs.example", "en", "office", ("expenses", "benefits", "offsite", "training")),
    ("Finance", "finance@northwind-labs.example", "en", "office", ("expenses", "budget", "invoice")),
    ("Dana Whitfield", "dana.whitfield@acme-corp.example", "en", "client", ("contract", "deliverable", "meeting")),
    ("Rob Chen", "rchen@acme-corp.example", "en", "client", ("deliverable", "meeting", "invoice")),
    ("Grace Liu", "grace@blueharbor.example", "en", "client", ("contract", "proposal", "meeting")),
    ("Prof. Helmut Krause", "krause@uni-tuebingen.example", "de", "academic", ("paper", "talk", "student")),
    ("Jonas Weber", "jonas.weber@uni-tuebingen.example", "de", "academic", ("paper", "student", "data")),
    ("Sophie Laurent", "s.laurent@atelier-lumiere.example", "fr", "partner", ("proposal", "meeting", "design")),
    ("Hugo Bernard", "hugo@atelier-lumiere.example", "fr", "partner", ("deliverable", "travel", "design")),
    ("Lucía Ortega", "lucia.ortega@solaris.example", "es", "partner", ("contract", "invoice", "meeting")),
    ("Mum", "anne.martin@homemail.example", "en", "family", ("family", "visit")),
    ("Jules Martin", "jules.m@homemail.example", "en", "family", ("family", "visit", "tickets")),
    ("Nadia Petrova", "nadia.p@freemail.example", "en", "friend", ("visit", "tickets", "lunch")),
    ("Ken Adachi", "ken.adachi@conference-2002.example", "en", "organiser", ("talk", "paper", "travel")),
    ("Bea Santos", "bea.santos@northwind-labs.example", "en", "peer", ("offsite", "training", "design")),
    ("Oliver Grant", "oliver.grant@blueharbor.example", "en", "client", ("deliverable", "invoice", "meeting")),
]
# Mail no person wrote: (name, address, list id or None, topics)
ROBOTS = [
    ("Tracker", "noreply@tracker.northwind-labs.example", None, ("ticket",)),
    ("Northwind All Staff", "all-staff@northwind-labs.example", "<all-staff.northwind-labs.example>", ("announce",)),
    ("Billing", "billing@hosting-co.example", None, ("invoice",)),
    ("Conference 2002", "news@conference-2002.example", "<news.conference-2002.example>", ("talk", "announce")),
]

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
THINGS = {
    "budget": ("the Q4 budget", "the revised budget sheet", "your cost estimates", "the headcount plan"),
    "hiring": ("your interview notes", "the scorecard for Ana", "feedback on the two candidates", "the job ad text"),
    "roadmap": ("the roadmap draft", "your team's priorities", "the Q4 goals"),
    "review": ("the code review", "your comments on the spec", "the design review notes", "the pull request"),
    "release": ("the release notes", "the go/no-go checklist", "the test report", "the 2.3 changelog"),
    "infra": ("the server inventory", "the backup report", "the migration plan", "the access list"),
    "design": ("the mock-ups", "the style guide", "the icons", "the wireframes for the settings page"),
    "travel": ("your travel request", "the hotel booking form", "your flight details"),
    "expenses": ("your expense report", "the receipts from Berlin", "the mileage claim"),
    "benefits": ("the pension form", "your benefits enrolment", "the health plan choice"),
    "offsite": ("your offsite RSVP", "the session proposals", "your dietary needs"),
    "training": ("the training survey", "your course choice", "the security training quiz"),
    "invoice": ("invoice 2002-{n}", "the purchase order", "the payment for invoice {n}"),
    "contract": ("the signed contract", "the NDA", "the amended statement of work", "the licence terms"),
    "deliverable": ("the milestone 3 report", "the data export", "the acceptance test results", "the final slides"),
    "meeting": ("the agenda", "your availability", "the meeting minutes"),
    "proposal": ("the proposal", "the budget annex", "the work plan"),
    "paper": ("the camera-ready paper", "your review of submission {n}", "the revised section 4"),
    "talk": ("your slides", "the talk abstract", "your speaker bio"),
    "student": ("the thesis evaluation", "the grade sheet", "the student's report"),
    "data": ("the cleaned data set", "the survey results", "the analysis scripts"),
    "family": ("the photos", "the recipe", "the guest list"),
    "visit": ("your train times", "the dates of your visit", "the address"),
    "tickets": ("the money for the tickets", "your seat preference", "the concert tickets"),
    "lunch": ("a table", "your order",),
    "ticket": ("ticket NW-{n}", "bug NW-{n}", "task NW-{n}"),
    "announce": ("the annual survey", "the room booking", "the parking permit form", "the registration form"),
}
SUBJECTS = {
    "budget": ("Q4 budget", "Budget numbers", "Re: budget", "Cost estimates for next quarter"),
    "hiring": ("Candidates", "Interview loop", "Hiring update", "Re: the backend role"),
    "roadmap": ("Roadmap", "Q4 planning", "Priorities"),
    "review": ("Review", "Spec comments", "Quick review?", "Re: PR for the importer"),
    "release": ("2.3 release", "Release status", "Go/no-go", "Re: release candidate"),
    "infra": ("Servers", "Backup", "Re: migration", "Access"),
    "design": ("Mock-ups", "Settings page", "Design", "Icons"),
    "travel": ("Trip to Lyon", "Travel", "Booking"),
    "expenses": ("Expenses", "Receipts", "Expense report"),
    "benefits": ("Benefits enrolment", "Pension", "Health plan"),
    "offsite": ("Offsite", "Team offsite in September", "Offsite agenda"),
    "training": ("Training", "Security training", "Courses this autumn"),
    "invoice": ("Invoice", "Payment", "Your invoice", "Purchase order"),
    "contract": ("Contract", "NDA", "Statement of work", "Licence"),
    "deliverable": ("Milestone 3", "Deliverables", "Acceptance tests", "Data export"),
    "meeting": ("Meeting", "Next call", "Agenda", "Catch-up"),
    "proposal": ("Proposal", "Joint proposal", "Work plan"),
    "paper": ("Paper", "Camera-ready", "Submission", "Reviews"),
    "talk": ("Your talk", "Slides", "Programme"),
    "student": ("Thesis", "Grades", "Student project"),
    "data": ("Data", "Survey results", "Scripts"),
    "family": ("Sunday", "Photos", "Hello from home", "Grandma's birthday"),
    "visit": ("Visit", "Coming over", "Weekend"),
    "tickets": ("Tickets", "Concert", "Saturday"),
    "lunch": ("Lunch?", "Lunch", "Food"),
    "ticket": ("[Tracker] NW-{n} assigned to you", "[Tracker] NW-{n} updated", "[Tracker] NW-{n} commented"),
    "announce": ("All staff: news", "Office notice", "Announcement", "This week"),
}
CONTEXT = {
    "budget": ("Finance asked for the Q4 numbers earlier than usual this year.",
               "I merged your figures into the master sheet; a few lines still look odd.",
               "We are about 8% over on contractors, which we should explain."),
    "hiring": ("Both candidates did well on the system design round.",
               "The hiring committee meets once we have all the feedback.",
               "Ana asked about remote work; I said we are flexible."),
    "roadmap": ("The board wants a one-page view of what we ship this year.",
                "I moved the reporting work to Q1; tell me if that hurts you.",
                "The mobile app is the big open question."),
    "review": ("I left a few comments, mostly on naming.",
               "The importer change looks right to me, but the tests are thin.",
               "There is one open question about the error handling."),
    "release": ("The release candidate passed the smoke tests last night.",
                "Two bugs are still open, both minor.",
                "Support would like a short summary of what changed."),
    "infra": ("The old backup box is almost full again.",
              "We moved the build server to the new rack on Saturday.",
              "Access to the staging database is now through the VPN only."),
    "design": ("The new icons look great on the dark background.",
               "Users found the settings page confusing in the last test.",
               "I tried two layouts for the sidebar; both are attached."),
    "travel": ("The Lyon workshop is confirmed for the second week of October.",
               "The company travel agent changed, so the forms are new.",
               "Trains are cheaper than flights for this one."),
    "expenses": ("The expense tool was down on Tuesday, sorry for the confusion.",
                 "A few receipts were hard to read in the scan.",
                 "Per diems went up this month."),
    "benefits": ("This is the yearly enrolment window.", "The pension provider changed its forms.",
                 "Nothing changes if you keep your current plan."),
    "offsite": ("The offsite will be at the lake house again.", "We have room for twelve sessions.",
                "The bus leaves from the office at eight."),
    "training": ("Every employee takes the security training once a year.",
                 "There are three courses to choose from this autumn.",
                 "The survey helps us plan next year's budget."),
    "invoice": ("Thank you for your order.", "Our records show an open balance on your account.",
                "The amount is EUR 1,240.00 including VAT."),
    "contract": ("Legal went through the draft and only changed clause 7.",
                 "We would like to start the work in October.",
                 "The liability cap is the only point still open."),
    "deliverable": ("The steering group meets in two weeks.", "Last month's report was very well received.",
                    "The data export should cover all sites."),
    "meeting": ("It was good to talk last week.", "We have a new project manager on our side, Kate.",
                "The room is booked on the third floor."),
    "proposal": ("The call is a good fit for both our teams.", "Our part would be the user studies.",
                 "The budget annex still has placeholders."),
    "paper": ("The reviews were positive overall.", "Reviewer 2 wants more detail on the data set.",
              "The page limit is twelve pages."),
    "talk": ("We are delighted that you will speak in the morning session.", "Talks are thirty minutes.",
             "The room holds about two hundred people."),
    "student": ("The student did a solid job on the evaluation chapter.", "The defence went well.",
                "I would suggest a grade of 1.7."),
    "data": ("The survey closed with 412 answers.", "Some answers are duplicates we should drop.",
             "The scripts run in about ten minutes."),
    "family": ("Dad fixed the garden gate at last.", "Grandma loved the flowers you sent.",
               "It rained all weekend here."),
    "visit": ("We are so looking forward to seeing you.", "The spare room is ready.",
              "The station is ten minutes from the house."),
    "tickets": ("I got four tickets for the concert.", "The seats are in the second row.",
                "The band starts at nine."),
    "lunch": ("The new Thai place opened next door.", "I'm starving already.", "Tom is in too."),
    "ticket": ("Priority: normal. Component: importer.", "Status changed from Open to In progress.",
               "A new comment was added by Tom Becker."),
    "announce": ("The kitchen on the second floor is being renovated.", "We welcome four new colleagues this month.",
                 "The car park will be resurfaced."),
}
# Sentences that set a deadline, by language. {thing} {day} {date} {time}
DEADLINES = {
    "en": (
        "Could you send me {thing} by {day}?", "Please get {thing} to me by {day}.",
        "The deadline for {thing} is {date}.", "I need {thing} no later than {date}.",
        "Can you look at {thing} before {time} today?", "{Thing} is due by {day}.",
        "{Thing} is due on {date}, so please don't leave it to the last minute.",
        "We have to submit {thing} by the end of the week.", "Please reply by tomorrow if you can make it.",
        "Let me have {thing} by end of day, please.", "Hard deadline: {date}.",
        "If you want changes, tell me before {day}.", "It would be great to have {thing} by {time} tomorrow.",
        "Sorry for the short notice, but {thing} has to be in by tomorrow.",
        "Payment is due on {date}.", "Please confirm {thing} until {day}.",
        "The form closes at midnight, so fill it in by midnight {day}.", "Deadline is {day} noon for {thing}.",
    ),
    "de": (
        "Kannst du mir {thing} bis {tag} schicken?", "Die Frist für {thing} ist der {datum}.",
        "Bitte schicken Sie {thing} bis spätestens {datum}.", "Abgabetermin ist {tag}.",
    ),
    "fr": (
        "Pourriez-vous m'envoyer {thing} avant {jour} ?", "La date limite pour {thing} est le {date_fr}.",
        "Merci de me répondre avant demain.",
    ),
    "es": (
        "¿Puedes enviarme {thing} antes del {dia}?", "La fecha límite es el {date_es}.",
        "Necesitamos {thing} antes del {date_es}.",
    ),
}
# Sentences with dates, "due", "by", "until" that set no deadline.
NEAR_MISSES = (
    "Due to the holiday, the office is closed on {day}.", "We met on {day} and agreed on the plan.",
    "By the way, the coffee machine is fixed.", "The report was sent out on {date}.",
    "Lunch on {day} was great, thanks again.", "I will be out of the office until further notice.",
    "The meeting moved to {day} at {time}.", "Due to a typo, the last mail had the wrong link.",
    "See you on {day}!", "The workshop ran from {date} for three days.",
    "Thanks for sending {thing} last week.", "I stayed until the end of the talk.",
    "There is no rush on this one.", "Whenever you have a minute is fine.",
)
# Asking for something with no date: as common in a working inbox as asking by a date.
REQUESTS = (
    "Could you take a look at {thing}?", "Please send me {thing} when you get a chance.",
    "Can you forward {thing} to Tom?", "Would you mind checking {thing}?", "Please review {thing}.",
    "Can you sign off on {thing}?", "Let me know what you think of {thing}.", "Please add your notes to {thing}.",
    "Could you share {thing} with the team?", "Can you call me about {thing}?",
)
QUESTIONS = ("What do you think?", "Does that work for you?", "Any thoughts?", "Shall we talk about it?",
             "Can you help?", "Is that OK with you?")
GREETINGS = {
    "boss": ("Hi Cleo,", "Cleo,", "Hi,"), "peer": ("Hi Cleo,", "Hey Cleo,", "Cleo -", "Hi there,"),
    "report": ("Hi Cleo,", "Hello Cleo,", "Hi,"), "office": ("Dear colleagues,", "Hello,", "Dear Cleo,"),
    "client": ("Dear Cleo,", "Hi Cleo,", "Hello Ms. Martin,"), "academic": ("Dear Cleo,", "Hallo Cleo,", "Dear Dr. Martin,"),
    "partner": ("Bonjour Cleo,", "Hola Cleo,", "Dear Cleo,", "Hi Cleo,"), "family": ("Hi love,", "Hey sis,", "Cleo!"),
    "friend": ("Hey!", "Hi Cleo,", "Hiya,"), "organiser": ("Dear speaker,", "Dear Dr. Martin,", "Hello,"),
}
SIGNOFFS = {
    "en": ("Thanks,", "Best,", "Cheers,", "Regards,", "Thanks a lot,", "--", "Best regards,"),
    "de": ("Viele Grüße,", "Beste Grüße,", "Best,"), "fr": ("Bien à vous,", "Merci,", "Cordialement,"),
    "es": ("Un saludo,", "Gracias,", "Saludos,"),
}
DAY_DE = {"Monday": "Montag", "Tuesday": "Dienstag", "Wednesday": "Mittwoch", "Thursday": "Donnerstag",
          "Friday": "Freitag"}
DAY_FR = {"Monday": "lundi", "Tuesday": "mardi", "Wednesday": "mercredi", "Thursday": "jeudi", "Friday": "vendredi"}
DAY_ES = {"Monday": "lunes", "Tuesday": "martes", "Wednesday": "miércoles", "Thursday": "jueves", "Friday": "viernes"}
MONTH_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
            "novembre", "décembre")
MONTH_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
            "noviembre", "diciembre")


def _slots(rng: random.Random, topic: str, when: datetime) -> dict[str, str]:
    thing = rng.choice(THINGS[topic]).format(n=rng.randint(100, 999))
    day = rng.choice(DAYS)
    due = when + timedelta(days=rng.randint(1, 12))
    return {"thing": thing, "Thing": thing[0].upper() + thing[1:], "day": day, "tag": DAY_DE[day],
            "jour": DAY_FR[day], "dia": DAY_ES[day],
            "date": rng.choice((f"{due.day} {due:%B}", f"{due:%B} {due.day}", f"{due:%B} {due.day}th"
                                if due.day not in (1, 2, 3, 21, 22, 23, 31) else f"{due:%B} {due.day}")),
            "datum": f"{due.day}.{due.month}.", "date_fr": f"{due.day} {MONTH_FR[due.month - 1]}",
            "date_es": f"{due.day} de {MONTH_ES[due.month - 1]}",
            "time": rng.choice(("5pm", "3 pm", "10am", "noon", "11:30 am"))}


def _body(rng: random.Random, name: str, lang: str, style: str, topic: str, when: datetime, deadline: bool,
          robot: bool) -> str:
    slots = _slots(rng, topic, when)
    sentences = rng.sample(CONTEXT[topic], k=rng.randint(1, min(3, len(CONTEXT[topic]))))
    if rng.random() < 0.45:
        sentences.insert(rng.randint(0, len(sentences)), rng.choice(NEAR_MISSES).format(**slots))
    if deadline:
        pool = DEADLINES[lang] if lang != "en" and rng.random() < 0.7 else DEADLINES["en"]
        sentences.insert(rng.randint(0 if robot else 1, len(sentences)), rng.choice(pool).format(**slots))
    elif not robot and rng.random() < 0.55:
        sentences.insert(rng.randint(1, len(sentences)), rng.choice(REQUESTS).format(**slots))
    if not robot and rng.random() < 0.4:
        sentences.append(rng.choice(QUESTIONS))
    lines = [] if robot else [rng.choice(GREETINGS[style]), ""]
    # One paragraph or two, as people write.
    cut = rng.randint(1, len(sentences)) if len(sentences) > 1 and rng.random() < 0.5 else len(sentences)
    lines.append(" ".join(sentences[:cut]))
    if cut < len(sentences):
        lines += ["", " ".join(sentences[cut:])]
    if not robot:
        lines += ["", rng.choice(SIGNOFFS[lang]), name.split()[0] if style != "office" else name]
    return "\n".join(lines)


def messages() -> list[tuple[str, bytes]]:
    """The fixture mail: (key, raw RFC 5322 bytes), in no particular order, the same every time."""
    rng = random.Random(SEED)
    span = (END - START).total_seconds()
    out: list[tuple[str, bytes]] = []
    sent: dict[str, tuple[str, str, str]] = {}  # sender -> (message id, subject, body) of their last mail
    for n in range(COUNT):
        when = START + timedelta(seconds=rng.uniform(0, span))
        when = when.replace(hour=rng.choice((7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 21)), minute=rng.randint(0, 59))
        robot = rng.random() < 0.15
        if robot:
            name, addr, list_id, topics = rng.choice(ROBOTS)
            lang, style = "en", "office"
        else:
            name, addr, lang, style, topics = rng.choice(PEOPLE)
            list_id = None
        topic = rng.choice(topics)
        deadline = rng.random() < DEADLINE_SHARE
        body = _body(rng, name, lang, style, topic, when, deadline, robot)
        subject = rng.choice(SUBJECTS[topic]).format(n=rng.randint(100, 999))
        msg = EmailMessage()
        msg["From"] = f"{name} <{addr}>"
        msg["To"] = f"{ME[0]} <{ME[1]}>"
        if not robot and rng.random() < 0.2:
            msg["Cc"] = rng.choice([f"{p[0]} <{p[1]}>" for p in PEOPLE if p[1] != addr])
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = f"<wl{n:03d}.{when:%Y%m%d%H%M}@{addr.rpartition('@')[2]}>"  # the same every run
        earlier = sent.get(addr)
        if earlier and not robot and rng.random() < 0.3:  # a reply in an earlier conversation
            msg["In-Reply-To"] = earlier[0]
            msg["References"] = earlier[0]
            subject = earlier[1] if earlier[1].startswith("Re: ") else f"Re: {earlier[1]}"
            quoted = "\n".join("> " + line for line in earlier[2].splitlines())
            body = f"{body}\n\nOn an earlier day, {name} wrote:\n{quoted}"
        msg["Subject"] = subject
        if list_id:
            msg["List-Id"] = list_id
            msg["Precedence"] = "list"
        if robot and not list_id:
            msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(body)
        sent[addr] = (msg["Message-ID"], subject, body.split("\n\nOn an earlier day")[0])
        out.append((f"worklife/{n:03d}", msg.as_bytes()))
    return out


if __name__ == "__main__":  # a look at a few: python bench/worklife.py
    for key, raw in messages()[:6]:
        print(key, "\n", raw.decode(), "\n", "-" * 60)
