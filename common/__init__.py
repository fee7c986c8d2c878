"""The leaf every other package may import: settings, provider names and pricing. It imports nothing of
Artificer's own (server → agents → storage → common)."""
