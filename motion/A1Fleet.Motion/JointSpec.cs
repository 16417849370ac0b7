namespace A1Fleet.Motion;

/// <summary>
/// One commanded degree of freedom: position limits, top speed (units/s) and top acceleration (units/s²) in robot
/// units, and where the simulation starts it. The control loop's <see cref="MotionLimiter"/> keeps every
/// command within all three.
/// </summary>
public sealed record JointSpec(string Name, float Lower, float Upper, float MaxVelocity, float MaxAcceleration, float Home, bool IsGripper = false);

/// <summary>
/// Where one arm's joints sit in the embodiment's joint vector, and where its base stands on the simulated
/// table (0..1 across and down the front camera's image). The camera's forward-kinematics-ish sketch
/// reads the yaw, shoulder and elbow joints named here.
/// </summary>
public sealed record ArmLayout(int FirstJoint, int ShoulderJoint, int ElbowJoint, int GripperJoint, float BaseX, float BaseY);
