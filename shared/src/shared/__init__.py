"""The one contract every newsfeed service imports.

Items (`shared.items`), the event envelope (`shared.events`), stream and group
names (`shared.streams`), the read model (`shared.readmodel`) and the delivery
layer (`shared.delivery`) live here and nowhere else.
"""
