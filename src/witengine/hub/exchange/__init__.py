"""The exchange: accounts, signed requests and the credit ledger (trades, bids, asks and
mandates come next, built on these)."""
