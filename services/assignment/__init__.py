"""Assignment: roster (Practitioner, PractitionerRole), contracts (OrganizationAffiliation) and Tasks."""
