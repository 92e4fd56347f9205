"""The runtime: values, the library of types and activities, the interpreter and executors."""
