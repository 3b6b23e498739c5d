"""Training recipes: seeded Keras training, int8 export and reports for each task (see recipes.TASKS)."""
