"""Build every outside-service client once per process (worker.py), from settings."""

from __future__ import annotations

from dataclasses import dataclass, fields

from core.settings import Settings
from integrations.calendar import CalendarApi, CalendarClient
from integrations.figma import FigmaApi, FigmaClient
from integrations.gmail import GmailApi, GmailClient
from integrations.llm import LlmApi, LlmClient
from integrations.notion import NotionApi, NotionClient
from integrations.sheets import SheetsApi, SheetsClient
from integrations.slack import SlackApi, SlackClient


@dataclass
class ServiceClients:
    """One client per outside service, typed by its protocol so tests may pass stand-ins."""

    slack: SlackApi
    figma: FigmaApi
    notion: NotionApi
    gmail: GmailApi
    calendar: CalendarApi
    sheets: SheetsApi
    llm: LlmApi

    async def aclose(self) -> None:
        for field in fields(self):
            await getattr(self, field.name).aclose()


def build_clients(settings: Settings) -> ServiceClients:
    """Clients for every service at the URLs settings resolve (sandbox by default)."""
    return ServiceClients(
        slack=SlackClient.from_settings(settings),
        figma=FigmaClient.from_settings(settings),
        notion=NotionClient.from_settings(settings),
        gmail=GmailClient.from_settings(settings),
        calendar=CalendarClient.from_settings(settings),
        sheets=SheetsClient.from_settings(settings),
        llm=LlmClient.from_settings(settings),
    )
