"""Calendar building: the catalog to ICS bytes."""
