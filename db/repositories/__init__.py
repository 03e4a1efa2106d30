"""Domain repositories, one module per area, each built on `db.repository.Repository`."""
