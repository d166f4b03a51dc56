"""Developer entry points (`make run`) and the process tooling they share with the tests."""
