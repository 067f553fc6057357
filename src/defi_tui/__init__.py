"""defi-tui: a simulated Ethereum DeFi market streamed to DeltaStream, Kafka or locally."""

import logging

# Front ends report through their own output; without a handler, Python's
# last-resort handler would print warnings straight over the dashboard.
logging.getLogger(__name__).addHandler(logging.NullHandler())
