"""Where the visitor is (from coordinates, IP address or postcode) and which store is nearest."""
