"""A real browser: marketing1 uploads a whitelist, watches the progress bar reach 100 % while a
worker runs the job, and downloads the error report — through a real WSGI server, CSRF on."""

from __future__ import annotations

import threading

import pytest
from python_calamine import load_workbook

from portal.cli import DEMO_PASSWORD
from portal.whitelist.sample import rows as sample_rows
from portal.whitelist.sample import write_workbook

pytestmark = pytest.mark.browser


def test_upload_progress_bar_and_error_report(
    app,
    live_url,  # noqa: F811
    browser,  # noqa: F811
    tmp_path,
    output_dir,
    monkeypatch,
):
    from portal.demo.whitelist import seed_products

    with app.app_context():
        seed_products()
    data = list(
        sample_rows(3000, ["I01B01", "I01B02"], [("XFY", 10000, 300000, 4.35, 18)], seed=77)
    )
    data[10][2] = "12345"  # a bad mobile → one row in the error report
    path = write_workbook(tmp_path / "browser-whitelist.xlsx", data)

    context = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(live_url + "/login/")
        page.fill("#username", "marketing1")
        page.fill("#password", DEMO_PASSWORD)
        with page.expect_navigation():
            page.click("#login-submit")
        page.goto(live_url + "/whitelist/imports/upload/")
        page.set_input_files("#file", str(path))
        page.check("#mode-valid")
        with page.expect_navigation():
            page.click("#submit-upload")
        assert "/whitelist/imports/show/" in page.url
        page.locator("#import-progress").wait_for(state="visible")

        pk = int(page.url.rstrip("/").rsplit("/", 1)[-1])

        def work():  # what the worker does with the queued job (RQ's worker wants the main thread)
            from portal.whitelist.importing import run_import

            with app.app_context():
                run_import(pk)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        from playwright.sync_api import expect

        expect(page.locator("#progress-bar")).to_have_text("100%", timeout=60_000)
        worker.join(timeout=60)
        assert "已导入" in page.inner_text("#progress-message")
        report = page.locator("#error-report")
        report.wait_for(state="visible")
        page.reload()  # the progress survives a reload
        expect(page.locator("#progress-bar")).to_have_text("100%")
        page.screenshot(path=str(output_dir / "browser-whitelist-import.png"), full_page=True)
        with page.expect_download() as info:
            page.click("#error-report")
        saved = tmp_path / "report.xlsx"
        info.value.save_as(saved)
    finally:
        context.close()
    rows = load_workbook(str(saved)).get_sheet_by_index(0).to_python()
    assert len(rows) == 2 and int(rows[1][0]) == 12 and "手机号" in rows[1][-1]
    assert errors == []
