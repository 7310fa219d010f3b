# Character cards (SillyTavern V1/V2/V3) as masks: files.py opens and saves card files (JSON or PNG),
# fields.py reads a card's fields into a mask, export.py writes a mask back as a card, png.py reads and writes
# the PNG text chunk. How a mask file keeps the card it came from is personas/mask_card.py.
