"""The triage loop: what the reader does with mail (states and actions) and what follows from it.

``models`` holds the types; ``states`` reads and writes an email's state; ``actions`` applies
and undoes actions (the one way states change on a user's behalf) and logs them; ``hooks``
lists what runs after actions; ``replies`` tells when the reader has replied; ``when`` reads
a snooze time as people write it.
"""
