"""Views of result objects: the terminal tables, the markdown artifact and the HTML report."""
