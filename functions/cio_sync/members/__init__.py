"""The member domain: the item contract, Northstar's subscription rules, the profile payload, data access."""
