"""The face model: ICT-FaceKit loading, the linear model, landmarks, expression archetypes, albedo, image formation."""
