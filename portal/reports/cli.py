"""Commands of the reports domain: `portal aggregates` (rebuild / refresh summary tables),
`portal daily-report` and `portal ods-export` (one business date, on demand)."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext


@click.command("aggregates")
@click.option("--refresh", is_flag=True, help="incremental refresh instead of a full rebuild")
@with_appcontext
def aggregates_cmd(refresh: bool) -> None:
    """Rebuild the dashboard summary tables from the raw tables (汇总表重建)."""
    from portal.core.extensions import db
    from portal.reports import aggregates

    result = aggregates.refresh(db.session) if refresh else aggregates.rebuild(db.session)
    click.echo(f"aggregates {'refreshed' if refresh else 'rebuilt'}: {result}")


@click.command("daily-report")
@click.option("--date", "day", default=None, help="business date YYYY-MM-DD (default: yesterday)")
@with_appcontext
def daily_report_cmd(day: str | None) -> None:
    """Generate the application-detail workbooks (消费易申请明细报表) of one business date."""
    from portal.reports import daily_report

    when = dt.date.fromisoformat(day) if day else dt.date.today() - dt.timedelta(days=1)
    for report in daily_report.generate_day(when):
        click.echo(f"{report.file_name}: {report.rows} rows")


@click.command("ods-export")
@click.option("--date", "day", default=None, help="business date YYYY-MM-DD (default: yesterday)")
@click.option("--force", is_flag=True, help="write again even if the day was exported")
@with_appcontext
def ods_export_cmd(day: str | None, force: bool) -> None:
    """Export one business date to the data warehouse (ODS 日终导出)."""
    from portal.integrations import dw_export

    when = dt.date.fromisoformat(day) if day else dt.date.today() - dt.timedelta(days=1)
    click.echo(str(dw_export.export_day(when, force=force)))


COMMANDS = (aggregates_cmd, daily_report_cmd, ods_export_cmd)
