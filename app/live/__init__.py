"""The live loop: sources, preprocessing, the pipeline that feeds the session, the headless runner and stop signals."""
