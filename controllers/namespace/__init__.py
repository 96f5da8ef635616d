"""The namespace controller: tears down a namespace being deleted.

`decisions` holds the pure parts (which kinds to empty, the conditions, the finalize body);
`controller` does the deletes and the final `PUT .../finalize`."""
