"""The link to a board: transports, the session, and starting virtual boards (host, QEMU) and firmware builds."""
