"""Widgets the pages share: the side-by-side review, the token view, annotations and the mask editor."""
