"""Training to full training accuracy, the defences' training sets, and checkpoints."""
