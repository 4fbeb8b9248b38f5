"""The store's schema migrations: numbered `.sql` files, applied in order at start-up."""
