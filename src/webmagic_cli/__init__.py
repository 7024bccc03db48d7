"""The admin CLI (`webmagic ...`), built with Typer. It never imports webmagic_http."""
