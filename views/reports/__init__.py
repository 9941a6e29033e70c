"""Views of the reports domain: dashboards, reports."""
