"""The console chat surface: the platform-neutral workflow in a terminal or a scripted transcript."""
