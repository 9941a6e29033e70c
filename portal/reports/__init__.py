"""Reports and dashboards (报表与看板): summary tables, charts, daily reports, ODS data sets."""
