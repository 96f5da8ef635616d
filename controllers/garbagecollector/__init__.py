"""The garbage collector: cascading deletion along ownerReferences.

`decisions` says what to do with one object given the state of its owners and dependents;
`controller` watches every deletable kind, keeps the uid graph and does the writes."""
