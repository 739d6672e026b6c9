"""What GitHub Actions needs from AWS: the two CI roles' policies, as templates, and their renderer."""
