"""sla's dashboard for operations staff: a static page and its script and style."""
