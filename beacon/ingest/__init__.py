"""Getting raw messages in: sources (files, mbox, Maildir, stdin) and the importer."""
