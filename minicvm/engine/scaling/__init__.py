"""Auto Scaling's engine side: activities, group membership and the reconciler."""
