"""The SMS side: an SMS provider's inbound-message webhook (an opt-out reply becomes a ledger
event of the number's person, or of the number), and the helper a sender calls before each
marketing text (it appends the site's opt-out instruction and refuses a number that may not be
contacted).

Apart from pixel.email and pixel.web (tests/test_layers.py): it shares only what sits at
pixel/ top. The people core (cmp.people) keeps the answers; nothing here stores a number or a
message text.
"""
