"""Seed mailboxes and calendars: a few users, some mails with work-order PDFs attached."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.pdf import text_pdf

USERS = ["alice@example.com", "bob@example.com", "ops@example.com"]


@dataclass(frozen=True)
class SeedAttachment:
    filename: str
    mime_type: str
    data: bytes


@dataclass(frozen=True)
class SeedMail:
    sender: str
    subject: str
    body: str
    date: str  # RFC 2822
    internal_ms: int
    attachments: tuple[SeedAttachment, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class WorkOrder:
    number: str
    fm: str
    site: str
    date: str
    amount: str
    description: str


WORK_ORDERS = [
    WorkOrder(
        "WO-10042",
        "ACME Facilities",
        "12 Harbour Street, Dockside",
        "2024-06-10",
        "1,250.00",
        "Replace the broken fire door closer on level 2",
    ),
    WorkOrder(
        "WO-10043",
        "ACME Facilities",
        "48 Mill Road, Eastgate",
        "2024-06-11",
        "380.50",
        "Repair the leaking tap in the staff kitchen",
    ),
    WorkOrder(
        "WO-10044",
        "Northwind FM",
        "3 Station Square, Riverside",
        "2024-06-12",
        "2,940.00",
        "Service both rooftop HVAC units",
    ),
    WorkOrder(
        "WO-10045",
        "Northwind FM",
        "3 Station Square, Riverside",
        "2024-06-12",
        "95.00",
        "Replace two emergency exit light bulbs",
    ),
]


def work_order_pdf(order: WorkOrder) -> bytes:
    return text_pdf(
        [
            "WORK ORDER",
            f"Work Order Number: {order.number}",
            f"Facility Manager: {order.fm}",
            f"Site: {order.site}",
            f"Date: {order.date}",
            f"Amount: {order.amount}",
            f"Description: {order.description}",
        ]
    )


def signed_work_order_pdf(order: WorkOrder, signer: str, signed_on: str) -> bytes:
    return text_pdf(
        [
            "SIGNED WORK ORDER - COMPLETION CERTIFICATE",
            f"Work Order Number: {order.number}",
            f"Site: {order.site}",
            f"Date: {order.date}",
            f"Amount: {order.amount}",
            f"Description: {order.description}",
            "Status: Completed",
            f"Signed by: {signer}",
            f"Signed date: {signed_on}",
        ]
    )


def _pdf(name: str, data: bytes) -> SeedAttachment:
    return SeedAttachment(name, "application/pdf", data)


def seed_mail() -> dict[str, list[SeedMail]]:
    """Each user's inbox, oldest first."""
    wo = {order.number: order for order in WORK_ORDERS}
    base = 1718000000000
    return {
        "alice@example.com": [
            SeedMail(
                "Priya Shah <priya@vendor.example>",
                "Decision needed: analytics contract renewal",
                "Hi Alice, can you confirm whether we renew the analytics contract? "
                "We need a decision before 2024-06-20.",
                "Mon, 10 Jun 2024 09:00:00 +0000",
                base,
            ),
            SeedMail(
                "Tom Reyes <tom@example.com>",
                "Can we meet Thursday to review the Q3 roadmap?",
                "Could we schedule 30 minutes on Thursday afternoon to go through the roadmap?",
                "Mon, 10 Jun 2024 10:30:00 +0000",
                base + 5_400_000,
            ),
            SeedMail(
                "Sam Lee <sam@customer.example>",
                "Refund request for order #4411",
                "I was charged twice for order #4411. Please refund the duplicate payment.",
                "Tue, 11 Jun 2024 08:15:00 +0000",
                base + 83_700_000,
            ),
            SeedMail(
                "Weekly Digest <digest@news.example>",
                "Your weekly digest",
                "Five articles we think you will like this week.",
                "Tue, 11 Jun 2024 12:00:00 +0000",
                base + 97_200_000,
            ),
        ],
        "bob@example.com": [
            SeedMail(
                "Alice Martin <alice@example.com>",
                "Checkout timeout fix",
                "Can you send me the latency numbers once the fix is deployed?",
                "Mon, 10 Jun 2024 11:00:00 +0000",
                base + 7_200_000,
            ),
            SeedMail(
                "HR <hr@example.com>",
                "Benefits enrolment is open",
                "Enrolment closes on 2024-06-30.",
                "Tue, 11 Jun 2024 09:00:00 +0000",
                base + 86_400_000,
            ),
        ],
        "ops@example.com": [
            SeedMail(
                "Dispatch <dispatch@acme-fm.example>",
                "Work order WO-10042",
                "Please find work order WO-10042 attached.",
                "Mon, 10 Jun 2024 07:00:00 +0000",
                base,
                (_pdf("WO-10042.pdf", work_order_pdf(wo["WO-10042"])),),
            ),
            SeedMail(
                "Dispatch <dispatch@acme-fm.example>",
                "Work order WO-10043",
                "Please find work order WO-10043 attached.",
                "Tue, 11 Jun 2024 07:00:00 +0000",
                base + 86_400_000,
                (_pdf("WO-10043.pdf", work_order_pdf(wo["WO-10043"])),),
            ),
            SeedMail(
                "Jobs <jobs@northwind-fm.example>",
                "Work orders WO-10044 and WO-10045",
                "Two new work orders for Station Square.",
                "Wed, 12 Jun 2024 07:00:00 +0000",
                base + 172_800_000,
                (
                    _pdf("WO-10044.pdf", work_order_pdf(wo["WO-10044"])),
                    _pdf("WO-10045.pdf", work_order_pdf(wo["WO-10045"])),
                    SeedAttachment("site-notes.txt", "text/plain", b"Access code 4471 at the loading bay.\n"),
                ),
            ),
            SeedMail(
                "Jordan Lee <jordan@acme-fm.example>",
                "Signed: WO-10042",
                "The job is done, signed work order attached.",
                "Fri, 14 Jun 2024 16:00:00 +0000",
                base + 378_000_000,
                (_pdf("WO-10042-signed.pdf", signed_work_order_pdf(wo["WO-10042"], "Jordan Lee", "2024-06-14")),),
            ),
            SeedMail(
                "Dispatch <dispatch@acme-fm.example>",
                "Fwd: Work order WO-10042",
                "Forwarding WO-10042 again in case it was missed.",
                "Sat, 15 Jun 2024 08:00:00 +0000",
                base + 436_800_000,
                (_pdf("WO-10042.pdf", work_order_pdf(wo["WO-10042"])),),
            ),
        ],
    }


# calendar id -> events (id, summary, description, start, end); dateTime in UTC or all-day dates.
SEED_EVENTS: dict[str, list[dict[str, object]]] = {
    "alice@example.com": [
        {
            "id": "evtroadmap0001",
            "summary": "Q3 roadmap review",
            "description": "Walk through the Q3 roadmap.",
            "start": {"dateTime": "2024-06-20T15:00:00Z"},
            "end": {"dateTime": "2024-06-20T16:00:00Z"},
            "attendees": [{"email": "alice@example.com"}, {"email": "tom@example.com"}],
        },
        {
            "id": "evtvendor00002",
            "summary": "Vendor decision deadline",
            "description": "Decide whether to renew the analytics contract.",
            "start": {"date": "2024-06-20"},
            "end": {"date": "2024-06-21"},
        },
        {
            "id": "evtoneonone003",
            "summary": "1:1 Alice / Bob",
            "description": "",
            "start": {"dateTime": "2024-06-18T09:00:00Z"},
            "end": {"dateTime": "2024-06-18T09:30:00Z"},
        },
    ],
    "bob@example.com": [
        {
            "id": "evtdeploy00004",
            "summary": "Deploy checkout timeout fix",
            "description": "Release window.",
            "start": {"dateTime": "2024-06-19T13:00:00Z"},
            "end": {"dateTime": "2024-06-19T14:00:00Z"},
        },
    ],
    "ops@example.com": [],
}

SPREADSHEET_ID = "1SaNdBoXwOrKoRdErS0000000000000000000000000000"
SEED_SHEETS: dict[str, list[list[object]]] = {
    "Work Orders": [["Work Order Number", "Facility Manager", "Site", "Date", "Amount", "Description", "Status"]],
    "Signed": [["Work Order Number", "Signed By", "Signed Date"]],
}
