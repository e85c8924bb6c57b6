"""Sub-commands of the `todayfeeling` command line, one module each."""
