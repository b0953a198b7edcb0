"""sortwatch edge: the program that runs at each waste station."""
