"""Nurture: marketing's pool of leads with long-term potential, missed follow-ups
and disqualified-for-now leads, run through marketing's tracks (email, waits, rep tasks)
until they are ready for sales again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.nurture.api import campaigns, router
from services.nurture.domain.calendar import BusinessCalendar
from services.nurture.domain.mail import Limits
from services.nurture.handlers import MailSettings, NurtureDeps, registry
from services.nurture.mailer import SmtpMailer
from services.nurture.repository import CampaignRepository, NurtureSubjects, PoolRepository, ProgramRepository
from services.nurture.settings import NurtureSettings
from shared import privacy_api
from shared.service import ServiceDefinition


def build_service(settings: NurtureSettings | None = None) -> ServiceDefinition:
    settings = settings or NurtureSettings()
    mailer = SmtpMailer(settings.nurture_smtp_host, settings.nurture_smtp_port, settings.nurture_smtp_username,
                        settings.nurture_smtp_password, settings.nurture_smtp_security)
    deps = NurtureDeps(
        pool=PoolRepository(settings.schema), programs=ProgramRepository(settings.schema), mailer=mailer,
        campaigns=CampaignRepository(settings.schema), half_life_days=settings.attribution_half_life_days,
        mail=MailSettings(sender=settings.nurture_mail_from, public_url=settings.nurture_public_url,
                          message_id_domain=settings.nurture_message_id_domain,
                          limits=Limits(settings.nurture_max_emails_per_day, settings.nurture_max_emails_per_week)),
        calendar=BusinessCalendar(settings.nurture_business_day_s), timer_batch=settings.nurture_timer_batch,
        mail_batch=settings.nurture_mail_batch, timer_interval_s=settings.nurture_timer_interval_s,
        tracks_file=settings.nurture_tracks_file,
        pre_event_call_lead=timedelta(seconds=settings.nurture_pre_event_call_lead_s),
        pre_event_call_soonest=timedelta(seconds=settings.nurture_pre_event_call_soonest_s),
        pre_event_team=settings.nurture_pre_event_team,
        no_show_grace=timedelta(seconds=settings.nurture_no_show_grace_s),
        subjects=NurtureSubjects(settings.schema))
    return ServiceDefinition(
        settings=settings,
        title="Leadbridge nurture",
        migrations=Path(__file__).parent / "migrations",
        handlers=registry(deps),
        deps=deps,
        routers=[router, campaigns, privacy_api.router("nurture")],
    )
